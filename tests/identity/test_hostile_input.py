"""Hostile input to Cognito Identity and STS: whatever arrives, the answer is a 4xx in AWS's
shape that names what is wrong, and nothing is written."""

import json
import urllib.parse

import pytest
from django.db import IntegrityError, OperationalError

from aws.errors import internal_failure
from aws.shapes import MAX_JSON_DEPTH, operation_model
from tests.support.raw import identity_call, send
from tests.support.shapes import example, input_shape, operations

IDENTITY_OPERATIONS = operations("cognito-identity")


def signed(operation: str) -> bool:
    return operation_model("cognito-identity", operation).auth_type != "none"


def call(live, operator_keys, operation: str, body: bytes):
    return identity_call(
        live.endpoint, operation, body, credentials=operator_keys if signed(operation) else None
    )


@pytest.mark.parametrize("operation", IDENTITY_OPERATIONS)
def test_a_lone_surrogate_in_any_member_is_a_400_naming_the_member(live, operator_keys, operation):
    body = json.dumps(example(input_shape("cognito-identity", operation), text="\ud800"))
    answer = call(live, operator_keys, operation, body.encode())
    assert answer.status == 400, answer
    assert answer.code == "ValidationException", answer
    message = answer.json()["message"]
    assert "Member must be valid Unicode text (it holds a lone surrogate)" in message
    assert "Value '\\ud800' at '" in message  # the value shown escaped, the member named


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 1000, 100_000])
@pytest.mark.parametrize("operation", IDENTITY_OPERATIONS)
def test_json_nested_deeper_than_any_request_is_a_400(live, operator_keys, operation, levels):
    body = b'{"IdentityPoolId": ' + b"[" * levels + b"]" * levels + b"}"
    answer = call(live, operator_keys, operation, body)
    assert (answer.status, answer.code) == (400, "SerializationException"), answer
    assert answer.json()["message"] == (
        f"The request body nests JSON deeper than {MAX_JSON_DEPTH} levels."
    )


POOL = {"IdentityPoolName": "hostile", "AllowUnauthenticatedIdentities": True}


@pytest.mark.parametrize(
    ("operation", "params", "member"),
    [
        ("CreateIdentityPool", {**POOL, "IdentityPoolTags": {"team": "a\x00b"}}, "team"),
        ("CreateIdentityPool", {**POOL, "IdentityPoolTags": {"te\x00am": "a"}}, "key"),
        (
            "CreateIdentityPool",
            {**POOL, "SupportedLoginProviders": {"accounts.google.com": "id\x00"}},
            "accounts.google.com",
        ),
        ("CreateIdentityPool", {**POOL, "DeveloperProviderName": "dev\x00"}, "developerProvider"),
        ("GetId", {"Logins": {"accounts.google.com": "token\x00"}}, "accounts.google.com"),
        (
            "GetOpenIdTokenForDeveloperIdentity",
            {"Logins": {"login.dev": "user\x00"}},
            "login.dev",
        ),
        (
            "GetOpenIdTokenForDeveloperIdentity",
            {"Logins": {"login.dev": "user"}, "PrincipalTags": {"team": "a\x00"}},
            "principalTags",
        ),
        (
            "SetPrincipalTagAttributeMap",
            {"IdentityProviderName": "accounts.google.com", "PrincipalTags": {"t": "c\x00"}},
            "principalTags",
        ),
        (
            "SetIdentityPoolRoles",
            {
                "Roles": {},
                "RoleMappings": {
                    "accounts.google.com": {
                        "Type": "Rules",
                        "AmbiguousRoleResolution": "Deny",
                        "RulesConfiguration": {
                            "Rules": [
                                {
                                    "Claim": "group",
                                    "MatchType": "Equals",
                                    "Value": "admins\x00",
                                    "RoleArn": "arn:aws:iam::000000000000:role/r",
                                }
                            ]
                        },
                    }
                },
            },
            "value",
        ),
        ("LookupDeveloperIdentity", {"DeveloperUserIdentifier": "user\x00"}, "developerUser"),
    ],
)
def test_nul_in_members_that_are_stored_is_a_400_naming_the_member(
    live, ops, operator_keys, guest_pool, operation, params, member
):
    before = ops.list_identity_pools(MaxResults=60)["IdentityPools"]
    pool_id = guest_pool["IdentityPoolId"]
    if operation not in ("CreateIdentityPool",):
        params = {"IdentityPoolId": pool_id, **params}
    body = json.dumps(params).encode()
    answer = call(live, operator_keys, operation, body)
    assert (answer.status, answer.code) == (400, "ValidationException"), answer
    message = answer.json()["message"]
    assert "Member must not contain the NUL character (U+0000)" in message
    assert member.lower() in message.lower()
    assert ops.list_identity_pools(MaxResults=60)["IdentityPools"] == before


def test_explicit_nulls_for_optional_members_are_absent_members(ops, anon, operator_keys):
    created = ops.create_identity_pool(
        IdentityPoolName="nulls", AllowUnauthenticatedIdentities=True
    )  # the same through JSON with every optional member null:
    null_pool = json.dumps(
        {
            "IdentityPoolName": "nulls",
            "AllowUnauthenticatedIdentities": True,
            "AllowClassicFlow": None,
            "SupportedLoginProviders": None,
            "DeveloperProviderName": None,
            "OpenIdConnectProviderARNs": None,
            "CognitoIdentityProviders": None,
            "SamlProviderARNs": None,
            "IdentityPoolTags": None,
        }
    )
    credentials = operator_keys
    answer = identity_call(
        ops.meta.endpoint_url, "CreateIdentityPool", null_pool.encode(), credentials
    )
    assert answer.status == 200, answer
    made = answer.json()
    assert {k: v for k, v in made.items() if k != "IdentityPoolId"} == {
        k: v for k, v in created.items() if k not in ("IdentityPoolId", "ResponseMetadata")
    }
    pool_id = made["IdentityPoolId"]
    roles = ops.get_identity_pool_roles(IdentityPoolId=pool_id)["Roles"]
    for operation, params in [
        ("GetId", {"IdentityPoolId": pool_id, "Logins": None, "AccountId": None}),
        ("SetIdentityPoolRoles", {"IdentityPoolId": pool_id, "Roles": roles, "RoleMappings": None}),
        (
            "GetOpenIdTokenForDeveloperIdentity",
            {"IdentityPoolId": pool_id, "Logins": {}, "TokenDuration": None, "IdentityId": None},
        ),
        (
            "UpdateIdentityPool",
            {**json.loads(null_pool), "IdentityPoolId": pool_id, "IdentityPoolTags": None},
        ),
    ]:
        answer = identity_call(
            ops.meta.endpoint_url,
            operation,
            json.dumps(params).encode(),
            credentials if signed(operation) else None,
        )
        assert answer.status < 500 and answer.code not in ("SerializationException",), (
            operation,
            answer,
        )
        if operation != "GetOpenIdTokenForDeveloperIdentity":  # no developer provider here
            assert answer.status == 200, (operation, answer)
    identity_id = anon.get_id(IdentityPoolId=pool_id)["IdentityId"]
    answer = identity_call(
        ops.meta.endpoint_url,
        "GetCredentialsForIdentity",
        json.dumps({"IdentityId": identity_id, "Logins": None, "CustomRoleArn": None}).encode(),
    )
    assert answer.status == 200, answer
    ops.delete_identity_pool(IdentityPoolId=pool_id)
    ops.delete_identity_pool(IdentityPoolId=created["IdentityPoolId"])


def test_null_for_a_required_member_is_the_error_a_missing_one_gets(live):
    missing = identity_call(live.endpoint, "GetId", b"{}")
    null = identity_call(live.endpoint, "GetId", b'{"IdentityPoolId": null}')
    assert (null.status, null.code, null.json()) == (missing.status, missing.code, missing.json())
    assert null.code == "ValidationException"


def test_a_session_policy_nested_too_deep_is_a_malformed_policy(live, anon, guest_pool):
    identity_id = anon.get_id(IdentityPoolId=guest_pool["IdentityPoolId"])["IdentityId"]
    token = anon.get_open_id_token(IdentityId=identity_id)["Token"]
    form = {
        "Action": "AssumeRoleWithWebIdentity",
        "Version": "2011-06-15",
        "RoleArn": "arn:aws:iam::000000000000:role/Cognito_guestsUnauth_Role",
        "RoleSessionName": "deep",
        "WebIdentityToken": token,
        "Policy": "[" * 1000 + "]" * 1000,
    }
    answer = send(
        live.endpoint,
        body=urllib.parse.urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status == 400, answer
    assert b"<Code>MalformedPolicyDocument</Code>" in answer.body
    assert b"deeper than" in answer.body


def test_a_nul_in_a_query_member_is_refused_in_xml(live):
    form = {"Action": "AssumeRoleWithWebIdentity", "RoleSessionName": "a\x00b"}
    answer = send(
        live.endpoint,
        body=urllib.parse.urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status == 400, answer
    assert b"<ErrorResponse" in answer.body and b"\x00" not in answer.body


def test_only_a_database_that_cannot_be_reached_is_called_unreachable():
    assert "could not reach its database" in internal_failure(OperationalError("gone")).message
    stored = internal_failure(IntegrityError("duplicate")).message
    assert "could not reach" not in stored and "store or read" in stored
