"""Developer-authenticated identities through boto3: an app's backend makes its own users
identities with GetOpenIdTokenForDeveloperIdentity, looks them up, merges and unlinks them;
devices use the tokens with GetCredentialsForIdentity and STS."""

import time

import jwt
import pytest
from botocore.exceptions import ClientError

from tests.conftest import client, temporary_credentials
from tests.support.errors import error_of
from tests.support.oidc import issuer

DEV = "login.notes.example"


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


@pytest.fixture
def dev_pool(ops):
    pool_id = ops.create_identity_pool(
        IdentityPoolName="developer",
        AllowUnauthenticatedIdentities=True,
        DeveloperProviderName=DEV,
    )["IdentityPoolId"]
    return pool_id


def developer_token(ops, pool_id, user, **kwargs):
    return ops.get_open_id_token_for_developer_identity(
        IdentityPoolId=pool_id, Logins={DEV: user}, **kwargs
    )


def sync_as(live, anon, identity_id, token):
    creds = anon.get_credentials_for_identity(
        IdentityId=identity_id, Logins={"cognito-identity.amazonaws.com": token}
    )
    assert creds["IdentityId"] == identity_id
    return client(live, "cognito-sync", temporary_credentials(creds["Credentials"])), creds


def write(sync, pool_id, identity_id, dataset, values):
    where = {"IdentityPoolId": pool_id, "IdentityId": identity_id, "DatasetName": dataset}
    listed = sync.list_records(**where)
    counts = {r["Key"]: r["SyncCount"] for r in listed["Records"]}
    sync.update_records(
        **where,
        SyncSessionToken=listed["SyncSessionToken"],
        RecordPatches=[
            {"Op": "replace", "Key": k, "Value": v, "SyncCount": counts.get(k, 0)}
            for k, v in values.items()
        ],
    )


def read(sync, pool_id, identity_id, dataset):
    listed = sync.list_records(IdentityPoolId=pool_id, IdentityId=identity_id, DatasetName=dataset)
    return {r["Key"]: r["Value"] for r in listed["Records"] if "Value" in r}, listed.get(
        "MergedDatasetNames", []
    )


def test_new_user_gets_an_identity_and_the_same_one_after(ops, dev_pool):
    before = int(time.time())
    first = developer_token(ops, dev_pool, "user-1")
    again = developer_token(ops, dev_pool, "user-1", TokenDuration=3600)
    assert first["IdentityId"] == again["IdentityId"]
    claims = claims_of(first["Token"])
    assert claims["sub"] == first["IdentityId"] and claims["aud"] == dev_pool
    assert claims["amr"] == ["authenticated", DEV, f"{DEV}:{dev_pool}:user-1"]
    assert claims["exp"] - claims["iat"] == 900 and claims["iat"] >= before - 1
    assert claims_of(again["Token"])["exp"] - claims_of(again["Token"])["iat"] == 3600
    assert ops.describe_identity(IdentityId=first["IdentityId"])["Logins"] == [DEV]


def test_token_duration_and_logins_are_checked(live, operator_keys, ops, dev_pool):
    raw = client(live, "cognito-identity", operator_keys, parameter_validation=False)
    with pytest.raises(ClientError) as excinfo:
        raw.get_open_id_token_for_developer_identity(
            IdentityPoolId=dev_pool, Logins={DEV: "u"}, TokenDuration=86401
        )
    assert error_of(excinfo)[0] == "ValidationException"
    with pytest.raises(ops.exceptions.InvalidParameterException) as excinfo:
        ops.get_open_id_token_for_developer_identity(
            IdentityPoolId=dev_pool, Logins={"login.other": "u"}
        )
    assert DEV in error_of(excinfo)[1]
    plain = ops.create_identity_pool(IdentityPoolName="nodev", AllowUnauthenticatedIdentities=True)
    with pytest.raises(ops.exceptions.InvalidParameterException) as excinfo:
        developer_token(ops, plain["IdentityPoolId"], "u")
    assert "DeveloperProviderName" in error_of(excinfo)[1]


def test_guest_upgraded_in_place_with_its_data(live, ops, anon, dev_pool):
    guest = anon.get_id(IdentityPoolId=dev_pool)["IdentityId"]
    creds = anon.get_credentials_for_identity(IdentityId=guest)["Credentials"]
    guest_sync = client(live, "cognito-sync", temporary_credentials(creds))
    write(guest_sync, dev_pool, guest, "notes", {"draft": "hello"})
    got = developer_token(ops, dev_pool, "user-2", IdentityId=guest)
    assert got["IdentityId"] == guest
    sync, _ = sync_as(live, anon, guest, got["Token"])
    assert read(sync, dev_pool, guest, "notes")[0] == {"draft": "hello"}
    with pytest.raises(anon.exceptions.NotAuthorizedException):
        anon.get_credentials_for_identity(IdentityId=guest)  # no longer a guest


def test_identifier_registered_to_another_identity(ops, anon, dev_pool):
    owner = developer_token(ops, dev_pool, "user-3")["IdentityId"]
    other = anon.get_id(IdentityPoolId=dev_pool)["IdentityId"]
    with pytest.raises(ops.exceptions.DeveloperUserAlreadyRegisteredException) as excinfo:
        developer_token(ops, dev_pool, "user-3", IdentityId=other)
    assert owner in error_of(excinfo)[1]


def test_tokens_give_credentials_and_assume_roles(live, ops, anon, dev_pool):
    got = developer_token(ops, dev_pool, "user-4", PrincipalTags={"plan": "pro"})
    assert claims_of(got["Token"])["https://aws.amazon.com/tags"] == {
        "principal_tags": {"plan": ["pro"]}
    }
    _, creds = sync_as(live, anon, got["IdentityId"], got["Token"])
    caller = client(live, "sts", temporary_credentials(creds["Credentials"])).get_caller_identity()
    assert "assumed-role/Cognito_developerAuth_Role" in caller["Arn"]
    assert caller["Arn"].endswith("/CognitoIdentityCredentials")
    roles = ops.get_identity_pool_roles(IdentityPoolId=dev_pool)["Roles"]
    assumed = client(live, "sts").assume_role_with_web_identity(
        RoleArn=roles["authenticated"], RoleSessionName="backend", WebIdentityToken=got["Token"]
    )
    assert assumed["SubjectFromWebIdentityToken"] == got["IdentityId"]


def test_lookup_both_ways_and_pages(ops, dev_pool):
    identity = developer_token(ops, dev_pool, "user-5")["IdentityId"]
    other = developer_token(ops, dev_pool, "user-6")["IdentityId"]
    ops.merge_developer_identities(
        SourceUserIdentifier="user-6",
        DestinationUserIdentifier="user-5",
        DeveloperProviderName=DEV,
        IdentityPoolId=dev_pool,
    )
    by_identifier = ops.lookup_developer_identity(
        IdentityPoolId=dev_pool, DeveloperUserIdentifier="user-6"
    )
    assert by_identifier["IdentityId"] == identity != other
    first = ops.lookup_developer_identity(
        IdentityPoolId=dev_pool, IdentityId=identity, MaxResults=1
    )
    assert first["DeveloperUserIdentifierList"] == ["user-5"]
    second = ops.lookup_developer_identity(
        IdentityPoolId=dev_pool, IdentityId=identity, MaxResults=1, NextToken=first["NextToken"]
    )
    assert second["DeveloperUserIdentifierList"] == ["user-6"]
    assert "NextToken" not in second
    both = ops.lookup_developer_identity(
        IdentityPoolId=dev_pool, IdentityId=identity, DeveloperUserIdentifier="user-5"
    )
    assert both["DeveloperUserIdentifierList"] == ["user-5"]
    stranger = developer_token(ops, dev_pool, "user-7")["IdentityId"]
    with pytest.raises(ops.exceptions.ResourceConflictException):
        ops.lookup_developer_identity(
            IdentityPoolId=dev_pool, IdentityId=stranger, DeveloperUserIdentifier="user-5"
        )
    with pytest.raises(ops.exceptions.ResourceNotFoundException):
        ops.lookup_developer_identity(IdentityPoolId=dev_pool, DeveloperUserIdentifier="nobody")
    with pytest.raises(ops.exceptions.InvalidParameterException):
        ops.lookup_developer_identity(IdentityPoolId=dev_pool)


def test_merge_keeps_the_destination_and_all_data(live, ops, anon, dev_pool):
    destination = developer_token(ops, dev_pool, "user-8")
    source = developer_token(ops, dev_pool, "user-9")
    dest_sync, _ = sync_as(live, anon, destination["IdentityId"], destination["Token"])
    source_sync, _ = sync_as(live, anon, source["IdentityId"], source["Token"])
    write(dest_sync, dev_pool, destination["IdentityId"], "notes", {"a": "1", "same": "d"})
    write(source_sync, dev_pool, source["IdentityId"], "notes", {"b": "2", "same": "s"})
    merged = ops.merge_developer_identities(
        SourceUserIdentifier="user-9",
        DestinationUserIdentifier="user-8",
        DeveloperProviderName=DEV,
        IdentityPoolId=dev_pool,
    )
    assert merged["IdentityId"] == destination["IdentityId"]
    values, merged_names = read(dest_sync, dev_pool, destination["IdentityId"], "notes")
    assert values == {"a": "1", "b": "2", "same": "d"}
    assert merged_names == [f"notes.{source['IdentityId']}"]
    # The source's credentials stopped working at once.
    with pytest.raises(ClientError) as excinfo:
        read(source_sync, dev_pool, source["IdentityId"], "notes")
    assert error_of(excinfo)[0] == "UnrecognizedClientException"
    assert ops.describe_identity(IdentityId=destination["IdentityId"])["Logins"] == [DEV]
    # The source's user now signs in to the destination.
    assert developer_token(ops, dev_pool, "user-9")["IdentityId"] == destination["IdentityId"]
    with pytest.raises(ops.exceptions.ResourceNotFoundException):
        ops.merge_developer_identities(
            SourceUserIdentifier="ghost",
            DestinationUserIdentifier="user-8",
            DeveloperProviderName=DEV,
            IdentityPoolId=dev_pool,
        )
    with pytest.raises(ops.exceptions.InvalidParameterException):
        ops.merge_developer_identities(
            SourceUserIdentifier="user-9",
            DestinationUserIdentifier="user-8",
            DeveloperProviderName="login.other",
            IdentityPoolId=dev_pool,
        )


def test_unlink_makes_the_identifier_new_again(live, ops, anon, dev_pool):
    got = developer_token(ops, dev_pool, "user-10")
    _, creds = sync_as(live, anon, got["IdentityId"], got["Token"])
    sts = client(live, "sts", temporary_credentials(creds["Credentials"]))
    assert sts.get_caller_identity()
    with pytest.raises(ops.exceptions.ResourceConflictException):
        ops.unlink_developer_identity(
            IdentityId=got["IdentityId"],
            IdentityPoolId=dev_pool,
            DeveloperProviderName=DEV,
            DeveloperUserIdentifier="other",
        )
    ops.unlink_developer_identity(
        IdentityId=got["IdentityId"],
        IdentityPoolId=dev_pool,
        DeveloperProviderName=DEV,
        DeveloperUserIdentifier="user-10",
    )
    with pytest.raises(ClientError):
        sts.get_caller_identity()  # credentials revoked
    listed = ops.list_identities(IdentityPoolId=dev_pool, MaxResults=60, HideDisabled=True)
    assert got["IdentityId"] not in [i["IdentityId"] for i in listed["Identities"]]
    assert developer_token(ops, dev_pool, "user-10")["IdentityId"] != got["IdentityId"]


def test_public_logins_in_the_same_call_are_linked_and_tag_maps_apply(
    live, ops, operator_keys, anon
):
    iam = client(live, "iam", operator_keys)
    with issuer() as provider:
        arn = iam.create_open_id_connect_provider(
            Url=provider.url, ClientIDList=[provider.client_id], ThumbprintList=["0" * 40]
        )["OpenIDConnectProviderArn"]
        pool_id = ops.create_identity_pool(
            IdentityPoolName="dev-and-oidc",
            AllowUnauthenticatedIdentities=True,
            AllowClassicFlow=True,
            DeveloperProviderName=DEV,
            OpenIdConnectProviderARNs=[arn],
        )["IdentityPoolId"]
        mapped = ops.set_principal_tag_attribute_map(
            IdentityPoolId=pool_id,
            IdentityProviderName=provider.key,
            UseDefaults=True,
            PrincipalTags={"mail": "email"},
        )
        assert mapped["PrincipalTags"] == {"mail": "email"} and mapped["UseDefaults"] is True
        got = ops.get_principal_tag_attribute_map(
            IdentityPoolId=pool_id, IdentityProviderName=provider.key
        )
        assert got["PrincipalTags"] == {"mail": "email"}
        login = {provider.key: provider.id_token("olga@example.com")}
        made = ops.get_open_id_token_for_developer_identity(
            IdentityPoolId=pool_id, Logins={DEV: "user-11", **login}
        )
        described = ops.describe_identity(IdentityId=made["IdentityId"])
        assert described["Logins"] == sorted([DEV, provider.key])
        tags = claims_of(made["Token"])["https://aws.amazon.com/tags"]["principal_tags"]
        assert tags == {
            "username": ["olga@example.com"],
            "client": [provider.client_id],
            "mail": ["olga@example.com"],
        }
        token = anon.get_open_id_token(IdentityId=made["IdentityId"], Logins=login)["Token"]
        assert claims_of(token)["https://aws.amazon.com/tags"]["principal_tags"]["mail"] == [
            "olga@example.com"
        ]
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


@pytest.mark.django_db
def test_a_new_developer_user_is_made_whole_or_not_at_all():
    from identity import selectors, services
    from identity.models import Identity, Login
    from identity.services.identities import identity_with_login_create
    from identity.services.signin import developer_sign_in

    pool = selectors.pool_view(services.pool_create(name="dev", developer_provider_name=DEV).id)
    made = identity_with_login_create(pool=pool, provider=DEV, subject="first")
    assert made is not None and made.state == Identity.State.AUTHENTICATED
    assert made.last_used is not None
    assert list(Login.objects.filter(pool_id=pool.id).values_list("subject", "identity_id")) == [
        ("first", made.id)
    ]
    # Another call that meets the login already linked writes nothing: no identity without
    # its login is left behind, and signing in finds the one identity.
    assert identity_with_login_create(pool=pool, provider=DEV, subject="first") is None
    assert list(Identity.objects.filter(pool_id=pool.id).values_list("id", flat=True)) == [made.id]
    # Read back as the ORM reads it (the written-out statements load each field in its place).
    found = selectors.login_identity(pool.id, DEV, "first")
    stored = Identity.objects.get(pk=made.id)
    for got in (found, selectors.identity_get(made.id)):
        assert (got.id, got.pool_id, got.state, got.merged_into_id) == (
            made.id,
            pool.id,
            Identity.State.AUTHENTICATED,
            None,
        )
        assert got.last_used == stored.last_used and got.last_used.tzinfo is not None
        assert got.credentials_not_before is None
    assert developer_sign_in(pool, "first", trigger="test").id == made.id
    # Inside a transaction of its own caller the refused login spoils nothing.
    from django.db import transaction

    with transaction.atomic():
        assert identity_with_login_create(pool=pool, provider=DEV, subject="first") is None
        second = developer_sign_in(pool, "second", trigger="test")
    assert second.id != made.id
    assert selectors.login_identity(pool.id, DEV, "second").id == second.id
    assert Identity.objects.filter(pool_id=pool.id).count() == 2


@pytest.mark.django_db
def test_a_developer_user_of_a_merged_away_identity_signs_in_to_the_survivor():
    from identity import selectors, services
    from identity.models import Identity, Login
    from identity.services.signin import developer_sign_in, identity_merge

    pool = selectors.pool_view(services.pool_create(name="dev", developer_provider_name=DEV).id)
    survivor = developer_sign_in(pool, "kept", trigger="test")
    merged = developer_sign_in(pool, "gone", trigger="test")
    identity_merge(merged=merged, survivor=survivor, trigger="test", logins=[DEV])
    # A login left on the merged identity (as an import or an older merge may leave it) is
    # followed to the identity it now lives on.
    Login.objects.filter(subject="gone").update(identity_id=merged.id)
    assert Identity.objects.get(pk=merged.id).merged_into_id == survivor.id
    assert developer_sign_in(pool, "gone", trigger="test").id == survivor.id
