"""Requests no SDK would send, signed as the SDKs sign them: for tests and benches of what
the server does with hostile input."""

import http.client
import json
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REGION = "us-east-1"
TARGET = "AWSCognitoIdentityService."
AMZ_JSON = "application/x-amz-json-1.1"


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        """The AWS error code, read as botocore reads it (header, then body)."""
        header = self.headers.get("x-amzn-errortype")
        if header:
            return header.split(":", 1)[0]
        try:
            return self.json().get("__type")
        except ValueError:
            return None

    def __repr__(self) -> str:
        return f"<Answer {self.status} {self.body[:300]!r}>"


def send(
    endpoint: str,
    *,
    method: str = "POST",
    path: str = "",
    query: str = "",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    credentials: dict | None = None,
    service: str = "cognito-identity",
    connection: http.client.HTTPConnection | None = None,
) -> Answer:
    """One request to `endpoint` + `path`, SigV4-signed for `service` when `credentials`
    (boto3-style keyword names) are given."""
    url = endpoint + path + (f"?{query}" if query else "")
    headers = dict(headers or {})
    if credentials is not None:
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(
            Credentials(
                credentials["aws_access_key_id"],
                credentials["aws_secret_access_key"],
                credentials.get("aws_session_token"),
            ),
            service,
            REGION,
        ).add_auth(request)
        headers = dict(request.headers.items())
    parts = urlsplit(url)
    own = connection is None
    conn = connection or http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body, headers)
        response = conn.getresponse()
        data = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        if own:
            conn.close()


def identity_call(endpoint: str, operation: str, body: bytes, credentials=None) -> Answer:
    """A Cognito Identity (JSON 1.1) call with `body` as it is."""
    return send(
        endpoint,
        body=body,
        headers={"Content-Type": AMZ_JSON, "X-Amz-Target": TARGET + operation},
        credentials=credentials,
    )
