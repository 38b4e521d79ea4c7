"""SigV4 on the wire: wrong keys, wrong secrets, stale clocks, missing or partial
signatures, and temporary credentials that expired or were tampered with."""

import datetime
import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import client, temporary_credentials
from tests.support.errors import error_of


def test_unknown_access_key_is_unrecognized(live):
    stranger = client(
        live,
        "cognito-identity",
        {"aws_access_key_id": "AKIAUNKNOWN000000000", "aws_secret_access_key": "x" * 40},
    )
    with pytest.raises(ClientError) as excinfo:
        stranger.list_identity_pools(MaxResults=5)
    assert error_of(excinfo) == (
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        400,
    )


def test_wrong_secret_is_a_signature_mismatch(live, operator_keys):
    wrong = {**operator_keys, "aws_secret_access_key": "not-the-secret"}
    with pytest.raises(ClientError) as excinfo:
        client(live, "cognito-identity", wrong).list_identity_pools(MaxResults=5)
    code, message, status = error_of(excinfo)
    assert (code, status) == ("InvalidSignatureException", 400)
    assert message.startswith("The request signature we calculated does not match")
    with pytest.raises(ClientError) as excinfo:
        client(live, "sts", wrong).get_caller_identity()
    assert error_of(excinfo)[0::2] == ("SignatureDoesNotMatch", 403)


def test_unsigned_developer_call_is_missing_authentication(anon):
    with pytest.raises(ClientError) as excinfo:
        anon.list_identity_pools(MaxResults=5)
    assert error_of(excinfo)[0] == "MissingAuthenticationTokenException"


def test_wrong_region_is_refused_with_a_hint(live, operator_keys):
    import boto3

    elsewhere = boto3.client(
        "cognito-identity", endpoint_url=live.endpoint, region_name="eu-west-1", **operator_keys
    )
    with pytest.raises(ClientError) as excinfo:
        elsewhere.list_identity_pools(MaxResults=5)
    assert "This server's region is 'us-east-1'" in error_of(excinfo)[1]


def signed_request(live, credentials: Credentials, when: datetime.datetime) -> AWSRequest:
    body = b'{"MaxResults": 5}'
    request = AWSRequest(
        method="POST",
        url=live.endpoint,
        data=body,
        headers={
            "X-Amz-Target": "AWSCognitoIdentityService.ListIdentityPools",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    signer = SigV4Auth(credentials, "cognito-identity", "us-east-1")
    request.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
    signer._modify_request_before_signing(request)
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signer._inject_signature_to_request(request, signature)
    return request


def send(request: AWSRequest):
    import urllib.error
    import urllib.request

    raw = urllib.request.Request(
        request.url, data=request.body, headers=dict(request.headers.items()), method="POST"
    )
    try:
        with urllib.request.urlopen(raw) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_request_signed_six_minutes_ago_is_refused(live, operator_keys):
    creds = Credentials(operator_keys["aws_access_key_id"], operator_keys["aws_secret_access_key"])
    now = datetime.datetime.now(datetime.UTC)
    status, body = send(signed_request(live, creds, now - datetime.timedelta(minutes=6)))
    assert status == 400
    assert '"__type":"InvalidSignatureException"' in body.replace(" ", "")
    assert "Signature expired" in body
    status, body = send(signed_request(live, creds, now - datetime.timedelta(minutes=4)))
    assert status == 200, body


def test_changed_body_breaks_the_signature(live, operator_keys):
    creds = Credentials(operator_keys["aws_access_key_id"], operator_keys["aws_secret_access_key"])
    request = signed_request(live, creds, datetime.datetime.now(datetime.UTC))
    request.data = b'{"MaxResults": 6}'
    status, body = send(request)
    assert status == 400 and "InvalidSignatureException" in body


def test_partial_authorization_header_is_incomplete(live):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        live.endpoint,
        data=b"{}",
        headers={
            "X-Amz-Target": "AWSCognitoIdentityService.ListIdentityPools",
            "Content-Type": "application/x-amz-json-1.1",
            "Authorization": (
                "AWS4-HMAC-SHA256 Credential=AKIAX/20260101/us-east-1/cognito-identity/aws4_request"
            ),
        },
    )
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request)
    body = excinfo.value.read().decode()
    assert excinfo.value.code == 400
    assert "IncompleteSignatureException" in body and "SignedHeaders" in body


def guest_credentials(anon, pool_id):
    identity_id = anon.get_id(IdentityPoolId=pool_id)["IdentityId"]
    return identity_id, anon.get_credentials_for_identity(IdentityId=identity_id)["Credentials"]


def test_tampered_session_token_is_invalid(live, anon, guest_pool):
    _, creds = guest_credentials(anon, guest_pool["IdentityPoolId"])
    token = creds["SessionToken"]
    flipped = token[:40] + ("A" if token[40] != "A" else "B") + token[41:]
    with pytest.raises(ClientError) as excinfo:
        client(
            live, "sts", temporary_credentials({**creds, "SessionToken": flipped})
        ).get_caller_identity()
    assert error_of(excinfo)[:1] == ("InvalidClientTokenId",)


def test_session_token_of_other_credentials_is_invalid(live, anon, guest_pool):
    _, first = guest_credentials(anon, guest_pool["IdentityPoolId"])
    _, second = guest_credentials(anon, guest_pool["IdentityPoolId"])
    mixed = {**first, "SessionToken": second["SessionToken"]}
    with pytest.raises(ClientError) as excinfo:
        client(live, "sts", temporary_credentials(mixed)).get_caller_identity()
    assert error_of(excinfo)[0] == "InvalidClientTokenId"


def test_expired_credentials_are_refused(live, anon, guest_pool):
    """Credentials sealed by this deployment (same SECRET_KEY) two hours ago for one hour."""
    from identity.credentials import credentials_issue

    identity_id, _ = guest_credentials(anon, guest_pool["IdentityPoolId"])
    old = credentials_issue(
        identity_id=identity_id,
        pool_id=guest_pool["IdentityPoolId"],
        role_arn="arn:aws:iam::000000000000:role/Cognito_guestsUnauth_Role",
        role_id="AROAEXAMPLE000000000",
        amr=["unauthenticated"],
        duration=3600,
        now=time.time() - 7200,
    )
    expired = {
        "aws_access_key_id": old.access_key_id,
        "aws_secret_access_key": old.secret_key,
        "aws_session_token": old.session_token,
    }
    with pytest.raises(ClientError) as excinfo:
        client(live, "sts", expired).get_caller_identity()
    assert error_of(excinfo) == (
        "ExpiredToken",
        "The security token included in the request is expired",
        400,
    )
    with pytest.raises(ClientError) as excinfo:
        client(live, "cognito-identity", expired).list_identity_pools(MaxResults=1)
    assert error_of(excinfo)[0] == "ExpiredTokenException"


def test_guest_credentials_cannot_call_developer_operations(live, anon, guest_pool):
    _, creds = guest_credentials(anon, guest_pool["IdentityPoolId"])
    as_guest = client(live, "cognito-identity", temporary_credentials(creds))
    with pytest.raises(as_guest.exceptions.NotAuthorizedException) as excinfo:
        as_guest.list_identity_pools(MaxResults=5)
    assert "needs an operator access key" in error_of(excinfo)[1]


def test_deactivated_key_is_refused(live):
    from tests.conftest import make_operator

    keys = make_operator(live, "short-lived")
    assert client(live, "sts", keys).get_caller_identity()
    live.manage(
        "shell",
        "-c",
        "from identity.models import AccessKey; from identity import services; "
        f"services.access_key_deactivate(key=AccessKey.objects.get(access_key_id={keys['aws_access_key_id']!r}))",
    )
    # Server processes keep keys in memory and see a change within a second (selectors).
    deadline = time.monotonic() + 5
    while True:
        try:
            client(live, "sts", keys).get_caller_identity()
        except ClientError as refused:
            assert refused.response["Error"]["Code"] == "InvalidClientTokenId"
            break
        assert time.monotonic() < deadline, "a deactivated key was still accepted after 5 s"
        time.sleep(0.2)
