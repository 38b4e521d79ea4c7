"""SigV4 verification against requests signed by botocore exactly as the SDKs sign them,
including the doubly encoded Cognito Sync paths (reference §1.8)."""

import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from aws.sigv4 import (
    ArrivedRequest,
    SignatureRefused,
    parse_authorization,
    raw_path_from_decoded,
    verify,
)

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def signed(method, url, body=b"", headers=None, token=None, service="cognito-sync"):
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    SigV4Auth(Credentials("AKIDEXAMPLE", SECRET, token), service, "us-east-1").add_auth(request)
    path, _, query = url.split("://", 1)[1].partition("/")[2].partition("?")
    arrived_headers = {k.lower(): v for k, v in request.headers.items()}
    arrived_headers["host"] = url.split("://", 1)[1].split("/", 1)[0]
    return ArrivedRequest(method, "/" + path, query, arrived_headers, body)


def check(arrived, secret=SECRET, now=None, skew=300):
    authorization = parse_authorization(arrived.headers["authorization"])
    verify(arrived, authorization, secret, max_skew=skew, now=now)


def test_sync_path_with_encoded_colons_and_query_verifies():
    url = (
        "http://127.0.0.1:8000/aws/identitypools/us-east-1%3Aaaaa/identities/us-east-1%3A1111"
        "/datasets/my.data-set_1%3Ax/records?lastSyncCount=0&maxResults=1024"
        "&syncSessionToken=a%2Fb%2Bc%3D&nextToken=n%20t"
    )
    check(signed("GET", url))


def test_json_post_with_security_token_verifies():
    arrived = signed(
        "POST",
        "http://127.0.0.1:8000/aws",
        b'{"IdentityPoolId": "us-east-1:abc"}',
        {
            "X-Amz-Target": "AWSCognitoIdentityService.GetId",
            "Content-Type": "application/x-amz-json-1.1",
        },
        token="session-token",
        service="cognito-identity",
    )
    assert (
        "x-amz-security-token"
        in parse_authorization(arrived.headers["authorization"]).signed_headers
    )
    check(arrived)


def test_tampering_with_a_signed_header_breaks_it():
    arrived = signed("GET", "http://127.0.0.1:8000/aws/identitypools/p%3A1")
    arrived.headers["host"] = "evil.example"
    with pytest.raises(SignatureRefused) as excinfo:
        check(arrived)
    assert excinfo.value.kind == "bad_signature"


def test_declared_payload_hash_must_match_the_body():
    arrived = signed(
        "POST", "http://127.0.0.1:8000/aws/x", b"{}", {"X-Amz-Content-SHA256": "0" * 64}
    )
    with pytest.raises(SignatureRefused):
        check(arrived)


def test_clock_skew_window():
    arrived = signed("GET", "http://127.0.0.1:8000/aws/identitypools")
    check(arrived, now=time.time() + 299)
    with pytest.raises(SignatureRefused) as excinfo:
        check(arrived, now=time.time() + 301)
    assert "Signature expired" in excinfo.value.message


def test_wrong_secret_fails():
    with pytest.raises(SignatureRefused):
        check(signed("GET", "http://127.0.0.1:8000/aws/identitypools"), secret="other")


@pytest.mark.parametrize(
    "header",
    [
        "AWS4-HMAC-SHA1 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=x",
        "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host",
        "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=x",
        "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=x-amz-date, Signature=x",
    ],
)
def test_malformed_authorization_headers_are_incomplete(header):
    with pytest.raises(SignatureRefused) as excinfo:
        parse_authorization(header)
    assert excinfo.value.kind == "incomplete"


def test_raw_path_is_rebuilt_the_way_sdks_encode_it():
    assert raw_path_from_decoded("/aws/identitypools/us-east-1:abc/datasets/a.b_c-d~e") == (
        "/aws/identitypools/us-east-1%3Aabc/datasets/a.b_c-d~e"
    )
