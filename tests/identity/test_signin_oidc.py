"""Signing in with a real OpenID provider (oidc-provider-mock on a loopback port, id_tokens
from its authorization-code flow), registered through the boto3 `iam` client: the first
sign-in keeps the guest, a second guest signing in as the same person is merged into it
under each merge policy, and nothing is lost."""

import datetime

import jwt
import pytest
from botocore.exceptions import ClientError

from tests.conftest import client, temporary_credentials
from tests.support.errors import error_of
from tests.support.oidc import issuer


@pytest.fixture(scope="module")
def provider():
    with issuer() as running:
        yield running


@pytest.fixture(scope="module")
def iam(live, operator_keys):
    return client(live, "iam", operator_keys)


@pytest.fixture(scope="module")
def registered(iam, provider):
    arn = iam.create_open_id_connect_provider(
        Url=provider.url, ClientIDList=[provider.client_id], ThumbprintList=["0" * 40]
    )["OpenIDConnectProviderArn"]
    yield arn
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


def make_pool(ops, arn, policy="merge"):
    return ops.create_identity_pool(
        IdentityPoolName=f"signin-{policy}",
        AllowUnauthenticatedIdentities=True,
        AllowClassicFlow=True,
        OpenIdConnectProviderARNs=[arn],
        IdentityPoolTags={"cognate:merge-policy": policy},
    )["IdentityPoolId"]


class Device:
    """A browser: a guest of the pool, its credentials and a cognito-sync client."""

    def __init__(self, live, anon, pool_id, identity_id=None, logins=None):
        self.live, self.anon, self.pool_id = live, anon, pool_id
        self.identity_id = identity_id or anon.get_id(IdentityPoolId=pool_id)["IdentityId"]
        self.sign_in(logins)

    def sign_in(self, logins=None):
        got = self.anon.get_credentials_for_identity(
            IdentityId=self.identity_id, **({"Logins": logins} if logins else {})
        )
        self.identity_id = got["IdentityId"]
        self.sync = client(self.live, "cognito-sync", temporary_credentials(got["Credentials"]))
        return got

    def where(self, dataset):
        return {
            "IdentityPoolId": self.pool_id,
            "IdentityId": self.identity_id,
            "DatasetName": dataset,
        }

    def write(self, dataset, values):
        listed = self.sync.list_records(**self.where(dataset))
        counts = {r["Key"]: r["SyncCount"] for r in listed["Records"]}
        self.sync.update_records(
            **self.where(dataset),
            SyncSessionToken=listed["SyncSessionToken"],
            RecordPatches=[
                {"Op": "replace", "Key": k, "Value": v, "SyncCount": counts.get(k, 0)}
                for k, v in values.items()
            ],
        )

    def read(self, dataset):
        listed = self.sync.list_records(**self.where(dataset), LastSyncCount=0)
        values = {r["Key"]: r["Value"] for r in listed["Records"] if "Value" in r}
        return values, listed.get("MergedDatasetNames", []), listed["DatasetSyncCount"]


@pytest.mark.parametrize("policy", ["merge", "newest", "cognito"])
def test_first_sign_in_keeps_the_guest_and_a_second_guest_is_merged(
    live, ops, anon, provider, registered, policy
):
    pool_id = make_pool(ops, registered, policy)
    login = {provider.key: provider.id_token("alice@example.com")}

    laptop = Device(live, anon, pool_id)
    first_guest = laptop.identity_id
    laptop.write("notes", {"a": "1", "shared": "from laptop"})
    laptop.write("prefs", {"theme": "dark"})
    before = laptop.read("notes")[2]

    got = laptop.sign_in(login)
    assert got["IdentityId"] == first_guest  # the guest became the account
    assert laptop.read("notes")[0] == {"a": "1", "shared": "from laptop"}
    assert ops.describe_identity(IdentityId=first_guest)["Logins"] == [provider.key]

    phone = Device(live, anon, pool_id)
    second_guest = phone.identity_id
    phone.write("notes", {"b": "2", "shared": "from phone"})
    phone.write("prefs", {"theme": "light"})
    got = phone.sign_in({provider.key: provider.id_token("alice@example.com")})
    assert got["IdentityId"] == first_guest  # merged into the account that had the login

    with pytest.raises(anon.exceptions.NotAuthorizedException) as excinfo:
        anon.get_credentials_for_identity(IdentityId=second_guest)
    assert error_of(excinfo)[1] == f"Access to Identity '{second_guest}' is forbidden."
    # With the login, the old id resolves to the survivor.
    again = anon.get_credentials_for_identity(
        IdentityId=second_guest, Logins={provider.key: provider.id_token("alice@example.com")}
    )
    assert again["IdentityId"] == first_guest

    notes, merged_names, after = phone.read("notes")
    assert after >= before  # the survivor's sync counts only grew
    if policy != "cognito":
        assert after > before  # its devices pull the merged records
    kept = {name: phone.read(name)[0] for name in merged_names}
    prefs, prefs_merged, _ = phone.read("prefs")
    prefs_kept = {name: phone.read(name)[0] for name in prefs_merged}
    if policy == "merge":
        assert notes == {"a": "1", "b": "2", "shared": "from laptop"}
        assert kept == {f"notes.{second_guest}": {"shared": "from phone"}}
        assert prefs == {"theme": "dark"}
        assert prefs_kept == {f"prefs.{second_guest}": {"theme": "light"}}
    elif policy == "newest":
        assert notes == {"a": "1", "b": "2", "shared": "from phone"}
        assert kept == {f"notes.{first_guest}": {"shared": "from laptop"}}
        assert prefs == {"theme": "light"}
        assert prefs_kept == {f"prefs.{first_guest}": {"theme": "dark"}}
    else:
        assert notes == {"a": "1", "shared": "from laptop"}
        assert kept == {f"notes.{second_guest}": {"b": "2", "shared": "from phone"}}
        assert prefs == {"theme": "dark"}
        assert prefs_kept == {f"prefs.{second_guest}": {"theme": "light"}}

    # Deleting a merged dataset dismisses it.
    for name in merged_names:
        phone.sync.delete_dataset(**phone.where(name))
    assert phone.read("notes")[1] == []

    listed = ops.list_identities(IdentityPoolId=pool_id, MaxResults=10)["Identities"]
    assert {i["IdentityId"] for i in listed} == {first_guest, second_guest}
    hidden = ops.list_identities(IdentityPoolId=pool_id, MaxResults=10, HideDisabled=True)
    assert [i["IdentityId"] for i in hidden["Identities"]] == [first_guest]


def test_get_id_with_a_login_finds_or_makes_the_account(ops, anon, provider, registered):
    pool_id = make_pool(ops, registered)
    first = anon.get_id(
        IdentityPoolId=pool_id, Logins={provider.key: provider.id_token("carol@example.com")}
    )
    again = anon.get_id(
        IdentityPoolId=pool_id, Logins={provider.key: provider.id_token("carol@example.com")}
    )
    assert first["IdentityId"] == again["IdentityId"]
    with pytest.raises(anon.exceptions.NotAuthorizedException) as excinfo:
        anon.get_credentials_for_identity(IdentityId=first["IdentityId"])
    assert "forbidden" in error_of(excinfo)[1]


def test_authenticated_identity_needs_one_of_its_own_logins(live, ops, anon, provider, registered):
    pool_id = make_pool(ops, registered)
    account = anon.get_id(
        IdentityPoolId=pool_id, Logins={provider.key: provider.id_token("dave@example.com")}
    )["IdentityId"]
    with pytest.raises(ClientError) as excinfo:
        anon.get_credentials_for_identity(
            IdentityId=account, Logins={provider.key: provider.id_token("erin@example.com")}
        )
    assert error_of(excinfo)[:2] == (
        "NotAuthorizedException",
        "Logins don't match. Please include at least one valid login for this identity or "
        "identity pool.",
    )


def test_accounts_with_different_logins_of_one_provider_cannot_merge(
    iam, ops, anon, provider, registered
):
    with issuer() as second:
        arn = iam.create_open_id_connect_provider(
            Url=second.url, ClientIDList=[second.client_id], ThumbprintList=["0" * 40]
        )["OpenIDConnectProviderArn"]
        pool_id = ops.create_identity_pool(
            IdentityPoolName="two-providers",
            AllowUnauthenticatedIdentities=True,
            OpenIdConnectProviderARNs=[registered, arn],
        )["IdentityPoolId"]
        frank = anon.get_id(
            IdentityPoolId=pool_id, Logins={provider.key: provider.id_token("frank@example.com")}
        )["IdentityId"]
        grace = anon.get_id(
            IdentityPoolId=pool_id,
            Logins={
                provider.key: provider.id_token("grace@example.com"),
                second.key: second.id_token("grace"),
            },
        )["IdentityId"]
        assert grace != frank
        # frank presents grace's second login: both accounts have a login of the first
        # provider, for different people, so they cannot become one.
        with pytest.raises(anon.exceptions.ResourceConflictException):
            anon.get_credentials_for_identity(
                IdentityId=frank,
                Logins={
                    provider.key: provider.id_token("frank@example.com"),
                    second.key: second.id_token("grace"),
                },
            )
        assert ops.describe_identity(IdentityId=grace)["Logins"] == sorted(
            [provider.key, second.key]
        )
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


def test_wrong_audience_until_the_client_is_added(iam, ops, anon, provider, registered):
    pool_id = make_pool(ops, registered)
    other_client = provider.register_client()
    token = provider.id_token("heidi@example.com", client=other_client)
    with pytest.raises(anon.exceptions.NotAuthorizedException) as excinfo:
        anon.get_id(IdentityPoolId=pool_id, Logins={provider.key: token})
    assert error_of(excinfo)[1] == "Invalid login token. Incorrect token audience."
    iam.add_client_id_to_open_id_connect_provider(
        OpenIDConnectProviderArn=registered, ClientID=other_client[0]
    )
    assert anon.get_id(IdentityPoolId=pool_id, Logins={provider.key: token})["IdentityId"]
    described = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=registered)
    assert described["ClientIDList"] == [provider.client_id, other_client[0]]
    iam.remove_client_id_from_open_id_connect_provider(
        OpenIDConnectProviderArn=registered, ClientID=other_client[0]
    )


def test_expired_tokens_and_unknown_issuers_are_refused(iam, ops, anon, provider, registered):
    pool_id = make_pool(ops, registered)
    with issuer(token_lifetime=datetime.timedelta(seconds=-600)) as stale:
        arn = iam.create_open_id_connect_provider(
            Url=stale.url, ClientIDList=[stale.client_id], ThumbprintList=["0" * 40]
        )["OpenIDConnectProviderArn"]
        expiring_pool = make_pool(ops, arn)
        with pytest.raises(anon.exceptions.NotAuthorizedException) as excinfo:
            anon.get_id(IdentityPoolId=expiring_pool, Logins={stale.key: stale.id_token("ivan")})
        assert error_of(excinfo)[1] == "Invalid login token. Token expired."
        # A registered issuer the pool does not trust.
        with pytest.raises(anon.exceptions.NotAuthorizedException) as excinfo:
            anon.get_id(IdentityPoolId=pool_id, Logins={stale.key: stale.id_token("ivan")})
        assert error_of(excinfo)[1] == (
            "Token is not from a supported provider of this identity pool."
        )
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    with pytest.raises(anon.exceptions.NotAuthorizedException):
        anon.get_id(IdentityPoolId=pool_id, Logins={provider.key: "not.a.token"})


def test_openid_token_of_a_signed_in_identity_carries_the_provider(
    live, ops, anon, provider, registered
):
    pool_id = make_pool(ops, registered)
    login = {provider.key: provider.id_token("judy@example.com")}
    identity_id = anon.get_id(IdentityPoolId=pool_id, Logins=login)["IdentityId"]
    token = anon.get_open_id_token(IdentityId=identity_id, Logins=login)["Token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["amr"] == ["authenticated", provider.key, f"{provider.key}:judy@example.com"]
    roles = ops.get_identity_pool_roles(IdentityPoolId=pool_id)["Roles"]
    assumed = client(live, "sts").assume_role_with_web_identity(
        RoleArn=roles["authenticated"], RoleSessionName="app", WebIdentityToken=token
    )
    assert assumed["SubjectFromWebIdentityToken"] == identity_id
    with pytest.raises(ClientError):  # an authenticated token is not a guest's
        client(live, "sts").assume_role_with_web_identity(
            RoleArn=roles["unauthenticated"], RoleSessionName="app", WebIdentityToken=token
        )


def test_unlink_identity_needs_proof_and_removes_the_login(ops, anon, provider, registered):
    pool_id = make_pool(ops, registered)
    login = {provider.key: provider.id_token("kim@example.com")}
    identity_id = anon.get_id(IdentityPoolId=pool_id, Logins=login)["IdentityId"]
    with pytest.raises(anon.exceptions.NotAuthorizedException):
        anon.unlink_identity(
            IdentityId=identity_id,
            Logins={provider.key: provider.id_token("mallory@example.com")},
            LoginsToRemove=[provider.key],
        )
    anon.unlink_identity(IdentityId=identity_id, Logins=login, LoginsToRemove=[provider.key])
    assert ops.describe_identity(IdentityId=identity_id)["Logins"] == []
    # The login is free again: it now makes a new identity.
    fresh = anon.get_id(IdentityPoolId=pool_id, Logins=login)["IdentityId"]
    assert fresh != identity_id


def test_iam_oidc_provider_api(iam, provider):
    listed = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert any(entry["Arn"].endswith(f"oidc-provider/{provider.key}") for entry in listed)
    with pytest.raises(iam.exceptions.EntityAlreadyExistsException):
        iam.create_open_id_connect_provider(
            Url=provider.url, ClientIDList=["x"], ThumbprintList=["0" * 40]
        )
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_open_id_connect_provider(
            OpenIDConnectProviderArn="arn:aws:iam::000000000000:oidc-provider/nowhere.example"
        )
    with pytest.raises(ClientError) as excinfo:
        iam.create_open_id_connect_provider(
            Url="ftp://issuer.example", ClientIDList=["x"], ThumbprintList=["0" * 40]
        )
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_rules_role_mapping_picks_the_role_of_the_first_matching_rule(
    live, ops, anon, provider, registered
):
    pool_id = make_pool(ops, registered)
    roles = ops.get_identity_pool_roles(IdentityPoolId=pool_id)["Roles"]
    live.manage(
        "shell",
        "-c",
        "from identity import roles, services; services.role_create(name='Editors', "
        f"trust_policy=roles.default_trust_policy(pool_id={pool_id!r}, amr='authenticated'), "
        "policy=roles.default_access_policy())",
    )
    editors = "arn:aws:iam::000000000000:role/Editors"
    # People of example.org get the Editors role; anyone else matches no rule, and the pool
    # denies ambiguous logins.
    ops.set_identity_pool_roles(
        IdentityPoolId=pool_id,
        Roles=roles,
        RoleMappings={
            provider.key: {
                "Type": "Rules",
                "AmbiguousRoleResolution": "Deny",
                "RulesConfiguration": {
                    "Rules": [
                        {
                            "Claim": "email",
                            "MatchType": "Contains",
                            "Value": "@example.org",
                            "RoleARN": editors,
                        },
                    ]
                },
            }
        },
    )
    member = anon.get_id(
        IdentityPoolId=pool_id, Logins={provider.key: provider.id_token("liz@example.org")}
    )["IdentityId"]
    creds = anon.get_credentials_for_identity(
        IdentityId=member, Logins={provider.key: provider.id_token("liz@example.org")}
    )["Credentials"]
    arn = client(live, "sts", temporary_credentials(creds)).get_caller_identity()["Arn"]
    assert arn.endswith("assumed-role/Editors/CognitoIdentityCredentials")
    outsider = anon.get_id(
        IdentityPoolId=pool_id, Logins={provider.key: provider.id_token("max@example.net")}
    )["IdentityId"]
    with pytest.raises(anon.exceptions.NotAuthorizedException) as excinfo:
        anon.get_credentials_for_identity(
            IdentityId=outsider, Logins={provider.key: provider.id_token("max@example.net")}
        )
    assert "AmbiguousRoleResolution Deny" in error_of(excinfo)[1]


def test_token_role_mapping_and_custom_role_arn(live, ops, anon, provider, registered):
    pool_id = make_pool(ops, registered)
    roles = ops.get_identity_pool_roles(IdentityPoolId=pool_id)["Roles"]
    ops.set_identity_pool_roles(
        IdentityPoolId=pool_id,
        Roles=roles,
        RoleMappings={
            provider.key: {"Type": "Token", "AmbiguousRoleResolution": "AuthenticatedRole"}
        },
    )
    provider.set_claims(
        "nina",
        {
            "cognito:roles": [roles["authenticated"]],
            "cognito:preferred_role": roles["authenticated"],
        },
    )
    login = {provider.key: provider.id_token("nina")}
    identity_id = anon.get_id(IdentityPoolId=pool_id, Logins=login)["IdentityId"]
    creds = anon.get_credentials_for_identity(
        IdentityId=identity_id, Logins=login, CustomRoleArn=roles["authenticated"]
    )["Credentials"]
    assert client(live, "sts", temporary_credentials(creds)).get_caller_identity()
    with pytest.raises(anon.exceptions.NotAuthorizedException) as excinfo:
        anon.get_credentials_for_identity(
            IdentityId=identity_id, Logins=login, CustomRoleArn=roles["unauthenticated"]
        )
    assert "cognito:roles" in error_of(excinfo)[1]
