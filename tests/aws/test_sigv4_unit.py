"""SigV4 verification against requests signed by botocore exactly as the SDKs sign them,
including the doubly encoded Cognito Sync paths (reference §1.8)."""

import hashlib
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from aws.sigv4 import (
    ArrivedRequest,
    SignatureRefused,
    parse_authorization,
    raw_path_from_decoded,
    request_time,
    verify,
)

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
MISMATCH = "The request signature we calculated does not match the signature you provided."


def signed(method, url, body=b"", headers=None, token=None, service="cognito-sync"):
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    SigV4Auth(Credentials("AKIDEXAMPLE", SECRET, token), service, "us-east-1").add_auth(request)
    path, _, query = url.split("://", 1)[1].partition("/")[2].partition("?")
    arrived_headers = {k.lower(): v for k, v in request.headers.items()}
    arrived_headers["host"] = url.split("://", 1)[1].split("/", 1)[0]
    return ArrivedRequest(method, "/" + path, query, arrived_headers, body)


def check(arrived, secret=SECRET, now=None, skew=300):
    authorization = parse_authorization(arrived.headers["authorization"])
    return verify(arrived, authorization, secret, max_skew=skew, now=now)


def refused(arrived, **kwargs) -> SignatureRefused:
    with pytest.raises(SignatureRefused) as excinfo:
        check(arrived, **kwargs)
    return excinfo.value


def mismatch(arrived, **kwargs) -> bool:
    """Refused as a signature that does not match, as AWS words it."""
    error = refused(arrived, **kwargs)
    return error.kind == "bad_signature" and error.message.startswith(MISMATCH)


def test_sync_path_with_encoded_colons_and_query_verifies():
    url = (
        "http://127.0.0.1:8000/aws/identitypools/us-east-1%3Aaaaa/identities/us-east-1%3A1111"
        "/datasets/my.data-set_1%3Ax/records?lastSyncCount=0&maxResults=1024"
        "&syncSessionToken=a%2Fb%2Bc%3D&nextToken=n%20t"
    )
    arrived = signed("GET", url)
    assert check(arrived) is None
    assert mismatch(replace(arrived, raw_query=arrived.raw_query.replace("=1024", "=1025")))
    # The SDKs sign the path as sent, encoded again: a path decoded on the way is not it.
    assert mismatch(replace(arrived, raw_path=arrived.raw_path.replace("%3A", ":")))


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
    assert check(arrived) is None
    assert mismatch(replace(arrived, body=arrived.body.replace(b"abc", b"abd")))
    other_token = {**arrived.headers, "x-amz-security-token": "session-tokem"}
    assert mismatch(replace(arrived, headers=other_token))


def test_tampering_with_a_signed_header_breaks_it():
    arrived = signed("GET", "http://127.0.0.1:8000/aws/identitypools/p%3A1")
    arrived.headers["host"] = "evil.example"
    assert mismatch(arrived)


def test_declared_payload_hash_must_match_the_body():
    arrived = signed(
        "POST", "http://127.0.0.1:8000/aws/x", b"{}", {"X-Amz-Content-SHA256": "0" * 64}
    )
    error = refused(arrived)
    assert error.kind == "bad_signature"
    assert error.message.startswith("The x-amz-content-sha256 header does not match")
    body_hash = hashlib.sha256(b"{}").hexdigest()
    declared = signed(
        "POST", "http://127.0.0.1:8000/aws/x", b"{}", {"X-Amz-Content-SHA256": body_hash}
    )
    assert check(declared) is None


def test_clock_skew_window():
    arrived = signed("GET", "http://127.0.0.1:8000/aws/identitypools")
    assert check(arrived, now=time.time() + 299) is None
    error = refused(arrived, now=time.time() + 301)
    assert error.kind == "bad_signature"
    assert "Signature expired" in error.message


def test_wrong_secret_fails():
    arrived = signed("GET", "http://127.0.0.1:8000/aws/identitypools")
    assert check(arrived) is None
    assert mismatch(arrived, secret="other")


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


@pytest.mark.parametrize(
    ("amz_date", "date", "read"),
    [
        ("20261202T175600Z", "", datetime(2026, 12, 2, 17, 56, tzinfo=UTC)),
        # Not the basic ISO 8601 form (or no such day): the Date header is read instead.
        (
            "2026-12-02T17:56:00Z",
            "Wed, 02 Dec 2026 17:57:00 GMT",
            datetime(2026, 12, 2, 17, 57, tzinfo=UTC),
        ),
        (
            "20261302T175600Z",
            "Wed, 02 Dec 2026 17:58:00 GMT",
            datetime(2026, 12, 2, 17, 58, tzinfo=UTC),
        ),
        (
            "20261202T175600Z\n",
            "Wed, 02 Dec 2026 17:59:00 GMT",
            datetime(2026, 12, 2, 17, 59, tzinfo=UTC),
        ),
        ("\uff12\uff10\uff12\uff161202T175600Z", "", None),  # full-width digits
        ("20261232T175600Z", "", None),
    ],
)
def test_the_request_time_is_read_strictly(amz_date, date, read):
    arrived = ArrivedRequest("GET", "/", "", {"x-amz-date": amz_date, "date": date}, b"")
    if read is None:
        with pytest.raises(SignatureRefused) as excinfo:
            request_time(arrived)
        assert "X-Amz-Date header (format YYYYMMDDTHHMMSSZ)" in excinfo.value.message
    else:
        assert request_time(arrived) == read
