"""The classic flow through boto3: GetOpenIdToken then STS AssumeRoleWithWebIdentity, and
GetCallerIdentity for every kind of credential."""

import json
import time

import jwt
import pytest
from botocore.exceptions import ClientError

from tests.conftest import client, temporary_credentials
from tests.support.errors import error_of


@pytest.fixture
def classic(ops, anon, guest_pool):
    """A guest of a classic-flow pool, its OpenID token and the pool's roles."""
    pool_id = guest_pool["IdentityPoolId"]
    identity_id = anon.get_id(IdentityPoolId=pool_id)["IdentityId"]
    token = anon.get_open_id_token(IdentityId=identity_id)["Token"]
    roles = ops.get_identity_pool_roles(IdentityPoolId=pool_id)["Roles"]
    return {"pool_id": pool_id, "identity_id": identity_id, "token": token, "roles": roles}


def test_guest_token_assumes_the_guest_role(live, classic):
    sts = client(live, "sts")
    got = sts.assume_role_with_web_identity(
        RoleArn=classic["roles"]["unauthenticated"],
        RoleSessionName="web-identity",
        WebIdentityToken=classic["token"],
        DurationSeconds=900,
    )
    assert got["SubjectFromWebIdentityToken"] == classic["identity_id"]
    assert got["Audience"] == classic["pool_id"]
    assert got["Provider"] == "cognito-identity.amazonaws.com"
    assert got["AssumedRoleUser"]["Arn"] == (
        "arn:aws:sts::000000000000:assumed-role/Cognito_guestsUnauth_Role/web-identity"
    )
    assert got["AssumedRoleUser"]["AssumedRoleId"].endswith(":web-identity")
    assert 890 < got["Credentials"]["Expiration"].timestamp() - time.time() <= 900
    caller = client(live, "sts", temporary_credentials(got["Credentials"])).get_caller_identity()
    assert caller["Arn"] == got["AssumedRoleUser"]["Arn"]
    assert caller["UserId"] == got["AssumedRoleUser"]["AssumedRoleId"]


def test_guest_token_cannot_assume_the_authenticated_role(live, classic):
    with pytest.raises(ClientError) as excinfo:
        client(live, "sts").assume_role_with_web_identity(
            RoleArn=classic["roles"]["authenticated"],
            RoleSessionName="s1",
            WebIdentityToken=classic["token"],
        )
    assert error_of(excinfo) == (
        "AccessDenied",
        "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        403,
    )


def test_token_of_another_pool_cannot_assume_this_pools_role(live, ops, classic):
    other = ops.create_identity_pool(IdentityPoolName="Other", AllowUnauthenticatedIdentities=True)
    other_role = ops.get_identity_pool_roles(IdentityPoolId=other["IdentityPoolId"])["Roles"]
    with pytest.raises(ClientError) as excinfo:
        client(live, "sts").assume_role_with_web_identity(
            RoleArn=other_role["unauthenticated"],
            RoleSessionName="s1",
            WebIdentityToken=classic["token"],
        )
    assert error_of(excinfo)[0] == "AccessDenied"


def test_unknown_role_is_access_denied(live, classic):
    with pytest.raises(ClientError) as excinfo:
        client(live, "sts").assume_role_with_web_identity(
            RoleArn="arn:aws:iam::000000000000:role/Nobody",
            RoleSessionName="s1",
            WebIdentityToken=classic["token"],
        )
    assert error_of(excinfo)[0] == "AccessDenied"


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("not-a-jwt", "The ID Token provided is not a valid JWT."),
        (
            jwt.encode(
                {"iss": "https://elsewhere.example", "sub": "x", "exp": 2**31},
                "secret-secret-secret-secret-32b!",
                algorithm="HS256",
            ),
            "No OpenIDConnect provider found for the issuer 'https://elsewhere.example'.",
        ),
    ],
)
def test_tokens_that_are_not_this_servers_are_invalid(live, classic, token, message):
    with pytest.raises(ClientError) as excinfo:
        client(live, "sts").assume_role_with_web_identity(
            RoleArn=classic["roles"]["unauthenticated"],
            RoleSessionName="s1",
            WebIdentityToken=token,
        )
    code, got, status = error_of(excinfo)
    assert (code, got, status) == ("InvalidIdentityToken", message, 400)
    assert excinfo.value.__class__.__name__ == "InvalidIdentityTokenException"


def test_tampered_token_is_invalid(live, classic):
    header, payload, signature = classic["token"].split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["sub"] = "us-east-1:00000000-0000-0000-0000-000000000000"
    forged = ".".join(
        [header, jwt.utils.base64url_encode(json.dumps(claims).encode()).decode(), signature]
    )
    with pytest.raises(ClientError) as excinfo:
        client(live, "sts").assume_role_with_web_identity(
            RoleArn=classic["roles"]["unauthenticated"],
            RoleSessionName="s1",
            WebIdentityToken=forged,
        )
    assert error_of(excinfo)[:2] == ("InvalidIdentityToken", "The token's signature is not valid.")


def test_expired_token_is_refused_with_expired_token(live, classic):
    # A token signed by the server's own key an hour ago (10 minute lifetime).
    stale = (
        live.manage(
            "shell",
            "-c",
            "import time; from identity import tokens; print(tokens.openid_token_issue("
            f"identity_id={classic['identity_id']!r}, pool_id={classic['pool_id']!r}, "
            "amr=['unauthenticated'], lifetime=600, now=time.time() - 3600))",
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    with pytest.raises(ClientError) as excinfo:
        client(live, "sts").assume_role_with_web_identity(
            RoleArn=classic["roles"]["unauthenticated"],
            RoleSessionName="s1",
            WebIdentityToken=stale,
        )
    code, message, status = error_of(excinfo)
    assert (code, status) == ("ExpiredTokenException", 400)
    assert message.startswith("Token expired: current date/time ")


@pytest.mark.parametrize(
    ("kwargs", "code", "fragment"),
    [
        ({"DurationSeconds": 899}, "ValidationError", "greater than or equal to 900"),
        ({"DurationSeconds": 7200}, "ValidationError", "exceeds the MaxSessionDuration"),
        ({"RoleSessionName": "has space"}, "ValidationError", "roleSessionName"),
        ({"Policy": "{not json"}, "MalformedPolicyDocument", "not valid JSON"),
        (
            {"Policy": json.dumps({"Statement": [{"Effect": "Maybe"}]})},
            "MalformedPolicyDocument",
            "Effect",
        ),
        (
            {"PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}]},
            "ValidationError",
            "inline in Policy",
        ),
    ],
)
def test_bad_assume_role_parameters(live, classic, kwargs, code, fragment):
    sts = client(live, "sts", parameter_validation=False)
    params = {
        "RoleArn": classic["roles"]["unauthenticated"],
        "RoleSessionName": "s1",
        "WebIdentityToken": classic["token"],
        **kwargs,
    }
    with pytest.raises(ClientError) as excinfo:
        sts.assume_role_with_web_identity(**params)
    got_code, message, status = error_of(excinfo)
    assert got_code == code and status == 400
    assert fragment in message


def test_session_policy_is_kept_and_sized(live, classic):
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "cognito-sync:ListRecords", "Resource": "*"}],
    }
    got = client(live, "sts").assume_role_with_web_identity(
        RoleArn=classic["roles"]["unauthenticated"],
        RoleSessionName="s1",
        WebIdentityToken=classic["token"],
        Policy=json.dumps(policy),
    )
    assert 0 < got["PackedPolicySize"] < 100


def test_revoked_identity_token_and_credentials_are_refused(live, anon, classic):
    creds = anon.get_credentials_for_identity(IdentityId=classic["identity_id"])["Credentials"]
    sts_as_guest = client(live, "sts", temporary_credentials(creds))
    assert sts_as_guest.get_caller_identity()["Account"] == "000000000000"
    live.manage("revoke_credentials", classic["identity_id"])
    with pytest.raises(ClientError) as excinfo:
        sts_as_guest.get_caller_identity()
    assert error_of(excinfo)[:1] == ("InvalidClientTokenId",)
    assert "revoked" in error_of(excinfo)[1]
    with pytest.raises(ClientError) as excinfo:
        client(live, "sts").assume_role_with_web_identity(
            RoleArn=classic["roles"]["unauthenticated"],
            RoleSessionName="s1",
            WebIdentityToken=classic["token"],
        )
    assert error_of(excinfo)[0] == "InvalidIdentityToken"
    fresh = anon.get_credentials_for_identity(IdentityId=classic["identity_id"])["Credentials"]
    assert client(live, "sts", temporary_credentials(fresh)).get_caller_identity()


def test_operator_key_identifies_its_user(live, operator_keys):
    caller = client(live, "sts", operator_keys).get_caller_identity()
    assert caller["Arn"] == "arn:aws:iam::000000000000:user/operator"
    assert caller["UserId"].startswith("AIDA") and len(caller["UserId"]) == 21


def test_get_caller_identity_must_be_signed(live):
    with pytest.raises(ClientError) as excinfo:
        client(live, "sts").get_caller_identity()
    assert error_of(excinfo)[0] == "MissingAuthenticationToken"
    assert error_of(excinfo)[2] == 403


def test_unknown_query_action_is_invalid_action(live, operator_keys):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        live.endpoint,
        data=b"Action=DecodeAuthorizationMessage&Version=2011-06-15&EncodedMessage=x",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request)
    body = excinfo.value.read().decode()
    assert excinfo.value.code == 400
    assert "<Code>InvalidAction</Code>" in body
    assert "<ErrorResponse" in body and "<RequestId>" in body
