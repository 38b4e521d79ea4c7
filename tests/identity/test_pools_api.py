"""Identity pools through boto3: create, describe, update, delete, list, roles and tags."""

import time

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client, make_operator
from tests.support.errors import error_of


def test_created_pool_is_described_with_every_field(ops):
    created = ops.create_identity_pool(
        IdentityPoolName="Notes app",
        AllowUnauthenticatedIdentities=True,
        AllowClassicFlow=True,
        SupportedLoginProviders={"accounts.google.com": "client-1.apps.example"},
        DeveloperProviderName="login.notes",
        OpenIdConnectProviderARNs=["arn:aws:iam::000000000000:oidc-provider/id.example.com"],
        IdentityPoolTags={"team": "notes"},
    )
    pool_id = created["IdentityPoolId"]
    assert pool_id.startswith("us-east-1:")
    described = ops.describe_identity_pool(IdentityPoolId=pool_id)
    for key in (
        "IdentityPoolName",
        "AllowUnauthenticatedIdentities",
        "AllowClassicFlow",
        "SupportedLoginProviders",
        "DeveloperProviderName",
        "OpenIdConnectProviderARNs",
        "IdentityPoolTags",
    ):
        assert described[key] == created[key], key
    assert described["IdentityPoolName"] == "Notes app"
    assert described["SupportedLoginProviders"] == {"accounts.google.com": "client-1.apps.example"}


def test_new_pool_gets_default_roles_limited_to_own_identity(ops):
    pool_id = ops.create_identity_pool(
        IdentityPoolName="Roles", AllowUnauthenticatedIdentities=False
    )["IdentityPoolId"]
    roles = ops.get_identity_pool_roles(IdentityPoolId=pool_id)
    assert roles["IdentityPoolId"] == pool_id
    assert roles["Roles"]["unauthenticated"] == (
        "arn:aws:iam::000000000000:role/Cognito_RolesUnauth_Role"
    )
    assert (
        roles["Roles"]["authenticated"] == "arn:aws:iam::000000000000:role/Cognito_RolesAuth_Role"
    )
    assert "RoleMappings" not in roles


def test_update_replaces_the_whole_configuration(ops):
    pool_id = ops.create_identity_pool(
        IdentityPoolName="Before",
        AllowUnauthenticatedIdentities=True,
        AllowClassicFlow=True,
        SupportedLoginProviders={"graph.facebook.com": "123"},
        IdentityPoolTags={"a": "b"},
    )["IdentityPoolId"]
    updated = ops.update_identity_pool(
        IdentityPoolId=pool_id, IdentityPoolName="After", AllowUnauthenticatedIdentities=False
    )
    assert updated["IdentityPoolName"] == "After"
    described = ops.describe_identity_pool(IdentityPoolId=pool_id)
    assert described["AllowUnauthenticatedIdentities"] is False
    assert "AllowClassicFlow" not in described  # back to unset
    assert described["SupportedLoginProviders"] == {}
    assert described["IdentityPoolTags"] == {}


def test_allow_classic_flow_is_three_valued_and_unset_allows_the_classic_flow(ops, anon):
    config = {"IdentityPoolName": "Flows", "AllowUnauthenticatedIdentities": True}
    created = ops.create_identity_pool(**config)
    pool_id = created["IdentityPoolId"]
    assert "AllowClassicFlow" not in created
    assert "AllowClassicFlow" not in ops.describe_identity_pool(IdentityPoolId=pool_id)
    identity_id = anon.get_id(IdentityPoolId=pool_id)["IdentityId"]
    assert anon.get_open_id_token(IdentityId=identity_id)["IdentityId"] == identity_id

    refused = ops.update_identity_pool(IdentityPoolId=pool_id, **config, AllowClassicFlow=False)
    assert refused["AllowClassicFlow"] is False
    assert ops.describe_identity_pool(IdentityPoolId=pool_id)["AllowClassicFlow"] is False
    with pytest.raises(anon.exceptions.InvalidParameterException) as excinfo:
        anon.get_open_id_token(IdentityId=identity_id)
    assert error_of(excinfo)[1] == "Basic (classic) flow is not enabled, please use enhanced flow."

    allowed = ops.update_identity_pool(IdentityPoolId=pool_id, **config, AllowClassicFlow=True)
    assert allowed["AllowClassicFlow"] is True
    assert anon.get_open_id_token(IdentityId=identity_id)["Token"]

    unset = ops.update_identity_pool(IdentityPoolId=pool_id, **config)
    assert "AllowClassicFlow" not in unset
    assert "AllowClassicFlow" not in ops.describe_identity_pool(IdentityPoolId=pool_id)
    assert anon.get_open_id_token(IdentityId=identity_id)["Token"]


def test_developer_provider_name_cannot_change_once_set(ops):
    pool_id = ops.create_identity_pool(
        IdentityPoolName="Dev", AllowUnauthenticatedIdentities=False, DeveloperProviderName="a.b"
    )["IdentityPoolId"]
    with pytest.raises(ops.exceptions.InvalidParameterException) as excinfo:
        ops.update_identity_pool(
            IdentityPoolId=pool_id,
            IdentityPoolName="Dev",
            AllowUnauthenticatedIdentities=False,
            DeveloperProviderName="c.d",
        )
    assert "cannot be changed" in error_of(excinfo)[1]
    assert ops.describe_identity_pool(IdentityPoolId=pool_id)["DeveloperProviderName"] == "a.b"


def test_deleted_pool_is_not_found_and_its_guests_are_gone(ops, anon):
    pool_id = ops.create_identity_pool(
        IdentityPoolName="Doomed", AllowUnauthenticatedIdentities=True
    )["IdentityPoolId"]
    identity_id = anon.get_id(IdentityPoolId=pool_id)["IdentityId"]
    ops.delete_identity_pool(IdentityPoolId=pool_id)
    with pytest.raises(ops.exceptions.ResourceNotFoundException) as excinfo:
        ops.describe_identity_pool(IdentityPoolId=pool_id)
    assert error_of(excinfo)[1] == f"IdentityPool '{pool_id}' not found."
    with pytest.raises(anon.exceptions.ResourceNotFoundException):
        anon.get_credentials_for_identity(IdentityId=identity_id)
    with pytest.raises(ops.exceptions.ResourceNotFoundException):
        ops.delete_identity_pool(IdentityPoolId=pool_id)


def test_list_identity_pools_pages_through_every_pool(ops):
    made = {
        ops.create_identity_pool(
            IdentityPoolName=f"page-{n}", AllowUnauthenticatedIdentities=False
        )["IdentityPoolId"]
        for n in range(7)
    }
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"MaxResults": 3, **({"NextToken": token} if token else {})}
        page = ops.list_identity_pools(**kwargs)
        pages += 1
        assert len(page["IdentityPools"]) <= 3
        seen += [p["IdentityPoolId"] for p in page["IdentityPools"]]
        token = page.get("NextToken")
        if not token:
            break
    assert made <= set(seen)
    assert len(seen) == len(set(seen))
    assert pages >= 3
    paginated = [
        p["IdentityPoolId"]
        for page in ops.get_paginator("list_identity_pools").paginate(
            PaginationConfig={"PageSize": 2}
        )
        for p in page["IdentityPools"]
    ]
    assert paginated == seen


def test_forged_next_token_is_refused(ops):
    with pytest.raises(ops.exceptions.InvalidParameterException) as excinfo:
        ops.list_identity_pools(MaxResults=5, NextToken="forged-token")
    assert "NextToken" in error_of(excinfo)[1]


def test_set_roles_and_role_mappings_round_trip(ops):
    pool_id = ops.create_identity_pool(
        IdentityPoolName="Mapped", AllowUnauthenticatedIdentities=True
    )["IdentityPoolId"]
    roles = ops.get_identity_pool_roles(IdentityPoolId=pool_id)["Roles"]
    mappings = {
        "accounts.google.com": {
            "Type": "Rules",
            "AmbiguousRoleResolution": "AuthenticatedRole",
            "RulesConfiguration": {
                "Rules": [
                    {
                        "Claim": "hd",
                        "MatchType": "Equals",
                        "Value": "example.com",
                        "RoleARN": roles["authenticated"],
                    }
                ]
            },
        }
    }
    ops.set_identity_pool_roles(
        IdentityPoolId=pool_id,
        Roles={"authenticated": roles["authenticated"]},
        RoleMappings=mappings,
    )
    got = ops.get_identity_pool_roles(IdentityPoolId=pool_id)
    assert got["Roles"] == {"authenticated": roles["authenticated"]}
    assert got["RoleMappings"] == mappings


def test_set_roles_refuses_unknown_roles_and_incomplete_mappings(ops):
    pool_id = ops.create_identity_pool(
        IdentityPoolName="Strict", AllowUnauthenticatedIdentities=True
    )["IdentityPoolId"]
    with pytest.raises(ops.exceptions.InvalidParameterException) as excinfo:
        ops.set_identity_pool_roles(
            IdentityPoolId=pool_id,
            Roles={"authenticated": "arn:aws:iam::000000000000:role/NoSuchRole"},
        )
    assert "NoSuchRole does not exist" in error_of(excinfo)[1]
    with pytest.raises(ops.exceptions.InvalidParameterException) as excinfo:
        ops.set_identity_pool_roles(
            IdentityPoolId=pool_id,
            Roles={},
            RoleMappings={
                "graph.facebook.com": {"Type": "Rules", "AmbiguousRoleResolution": "Deny"}
            },
        )
    assert "RulesConfiguration" in error_of(excinfo)[1]
    with pytest.raises(ClientError) as excinfo:
        ops.set_identity_pool_roles(IdentityPoolId=pool_id, Roles={"admin": "x" * 20})
    assert error_of(excinfo)[0] == "ValidationException"
    # Nothing was written by the refused calls.
    assert set(ops.get_identity_pool_roles(IdentityPoolId=pool_id)["Roles"]) == {
        "authenticated",
        "unauthenticated",
    }


def test_tags_are_added_removed_and_listed(ops):
    created = ops.create_identity_pool(
        IdentityPoolName="Tagged", AllowUnauthenticatedIdentities=False, IdentityPoolTags={"a": "1"}
    )
    arn = (
        f"arn:aws:cognito-identity:us-east-1:000000000000:identitypool/{created['IdentityPoolId']}"
    )
    ops.tag_resource(ResourceArn=arn, Tags={"b": "2", "c": "3"})
    assert ops.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"a": "1", "b": "2", "c": "3"}
    ops.untag_resource(ResourceArn=arn, TagKeys=["a", "c"])
    assert ops.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"b": "2"}
    with pytest.raises(ops.exceptions.InvalidParameterException) as excinfo:
        ops.tag_resource(ResourceArn=arn, Tags={f"k{n}": "v" for n in range(50)})
    assert "at most 50 tags" in error_of(excinfo)[1]
    with pytest.raises(ops.exceptions.InvalidParameterException):
        ops.list_tags_for_resource(ResourceArn="arn:aws:s3:::some-bucket-name")
    missing = arn.rsplit(":", 1)[0] + ":00000000-0000-0000-0000-000000000000"
    with pytest.raises(ops.exceptions.ResourceNotFoundException):
        ops.list_tags_for_resource(ResourceArn=missing)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        (
            {"IdentityPoolName": "x" * 129, "AllowUnauthenticatedIdentities": True},
            "at 'identityPoolName' failed to satisfy constraint: Member must have length less "
            "than or equal to 128",
        ),
        (
            {"IdentityPoolName": "bad/name", "AllowUnauthenticatedIdentities": True},
            "Member must satisfy regular expression pattern",
        ),
        (
            {
                "IdentityPoolName": "ok",
                "AllowUnauthenticatedIdentities": True,
                "DeveloperProviderName": "has space",
            },
            "at 'developerProviderName'",
        ),
        (
            {
                "IdentityPoolName": "ok",
                "AllowUnauthenticatedIdentities": True,
                "SupportedLoginProviders": {f"p{n}": "x" for n in range(11)},
            },
            "at 'supportedLoginProviders' failed to satisfy constraint: Member must have length "
            "less than or equal to 10",
        ),
    ],
)
def test_invalid_pool_settings_are_refused_with_validation_errors(ops, kwargs, fragment):
    with pytest.raises(ClientError) as excinfo:
        ops.create_identity_pool(**kwargs)
    code, message = error_of(excinfo)[:2]
    assert code == "ValidationException"
    assert message.startswith("1 validation error detected: ")
    assert fragment in message
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_several_constraint_breaks_are_reported_together(ops):
    with pytest.raises(ClientError) as excinfo:
        ops.describe_identity_pool(IdentityPoolId="x" * 60)
    message = error_of(excinfo)[1]
    assert message.startswith("2 validation errors detected: ")
    assert "length less than or equal to 55" in message and "pattern" in message


def test_wrong_json_types_are_serialization_errors(live, operator_keys):
    ops = client(live, "cognito-identity", operator_keys, parameter_validation=False)
    with pytest.raises(ClientError) as excinfo:
        ops.create_identity_pool(IdentityPoolName="t", AllowUnauthenticatedIdentities="yes")
    assert error_of(excinfo)[:2] == (
        "SerializationException",
        "Expected true or false at 'allowUnauthenticatedIdentities'.",
    )
    with pytest.raises(ClientError) as excinfo:
        ops.create_identity_pool(AllowUnauthenticatedIdentities=True)
    assert error_of(excinfo)[0] == "ValidationException"
    assert "Value null at 'identityPoolName'" in error_of(excinfo)[1]


def test_operator_without_permission_is_refused(live):
    keys = make_operator(live, "viewer-no-perms", superuser=False)
    viewer = client(live, "cognito-identity", keys)
    with pytest.raises(viewer.exceptions.NotAuthorizedException) as excinfo:
        viewer.create_identity_pool(IdentityPoolName="x", AllowUnauthenticatedIdentities=True)
    message = error_of(excinfo)[1]
    assert "cognito-identity:CreateIdentityPool" in message
    assert "identity.add_identitypool" in message


def test_key_limited_to_a_pool_sees_only_that_pool(live, ops):
    mine = ops.create_identity_pool(IdentityPoolName="Mine", AllowUnauthenticatedIdentities=True)
    other = ops.create_identity_pool(IdentityPoolName="Other", AllowUnauthenticatedIdentities=True)
    keys = make_operator(live, "scoped", pools=[mine["IdentityPoolId"]])
    scoped = client(live, "cognito-identity", keys)
    listed = [
        p["IdentityPoolId"] for p in scoped.list_identity_pools(MaxResults=60)["IdentityPools"]
    ]
    assert listed == [mine["IdentityPoolId"]]
    with pytest.raises(scoped.exceptions.ResourceNotFoundException):
        scoped.describe_identity_pool(IdentityPoolId=other["IdentityPoolId"])
    with pytest.raises(scoped.exceptions.ResourceNotFoundException):
        scoped.delete_identity_pool(IdentityPoolId=other["IdentityPoolId"])
    assert ops.describe_identity_pool(IdentityPoolId=other["IdentityPoolId"])


def test_changing_a_keys_pools_takes_effect_within_a_second(live, ops):
    mine = ops.create_identity_pool(IdentityPoolName="Mine2", AllowUnauthenticatedIdentities=True)
    other = ops.create_identity_pool(IdentityPoolName="Other2", AllowUnauthenticatedIdentities=True)
    keys = make_operator(live, "rescoped", pools=[mine["IdentityPoolId"]])
    scoped = client(live, "cognito-identity", keys)
    with pytest.raises(scoped.exceptions.ResourceNotFoundException):
        scoped.describe_identity_pool(IdentityPoolId=other["IdentityPoolId"])

    def pools(change: str) -> None:
        live.manage(
            "shell",
            "-c",
            "from identity.models import AccessKey; "
            f"key = AccessKey.objects.get(access_key_id={keys['aws_access_key_id']!r}); "
            f"key.pools.{change}({other['IdentityPoolId']!r})",
        )
        time.sleep(1.2)

    pools("add")
    assert scoped.describe_identity_pool(IdentityPoolId=other["IdentityPoolId"])
    pools("remove")
    with pytest.raises(scoped.exceptions.ResourceNotFoundException):
        scoped.describe_identity_pool(IdentityPoolId=other["IdentityPoolId"])


def test_changing_an_operators_user_takes_effect_within_a_second(live):
    """Keys and their users' permissions are kept in each process's memory: a permission
    granted or taken away, or staff status lost, is seen at the next call after a second,
    and a sign-in to the site (which saves the user) keeps the key working."""
    keys = make_operator(live, "changing", superuser=False)
    operator = client(live, "cognito-identity", keys)
    with pytest.raises(operator.exceptions.NotAuthorizedException):
        operator.list_identity_pools(MaxResults=5)

    def change(code: str) -> None:
        live.manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import Permission, User; "
            "user = User.objects.get(username='changing'); "
            "view = Permission.objects.get(codename='view_identitypool'); " + code,
        )
        time.sleep(1.2)

    change("user.user_permissions.add(view)")
    assert "IdentityPools" in operator.list_identity_pools(MaxResults=5)
    signed_in = "from django.contrib.auth.models import update_last_login; "
    change(signed_in + "update_last_login(None, user)")
    assert "IdentityPools" in operator.list_identity_pools(MaxResults=5)
    change("user.user_permissions.remove(view)")
    with pytest.raises(operator.exceptions.NotAuthorizedException):
        operator.list_identity_pools(MaxResults=5)
    change("user.user_permissions.add(view); user.is_staff = False; user.save()")
    with pytest.raises(ClientError) as excinfo:
        operator.list_identity_pools(MaxResults=5)
    assert error_of(excinfo)[0] == "UnrecognizedClientException"
