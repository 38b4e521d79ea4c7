"""Fuzzing the /aws endpoint from the botocore models: for every operation of Cognito
Identity, Cognito Sync, STS and the IAM subset, requests built from Hypothesis strategies of
the operation's input (well-typed with hostile values, and ill-typed), plus raw malformed
bodies; each answer must be a non-5xx in the protocol's AWS error shape. Used by
tests/test_fuzz.py (a bounded run) and bench/fuzz.py (tens of thousands of requests)."""

import http.client
import json
import re
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit

from botocore.serialize import create_serializer
from hypothesis import strategies as st

from aws.shapes import service_model
from identity.api import iam, sts
from tests.support.raw import AMZ_JSON, TARGET, Answer, send
from tests.support.shapes import strategy

OPERATIONS = [
    *(("cognito-identity", name) for name in service_model("cognito-identity").operation_names),
    *(("cognito-sync", name) for name in service_model("cognito-sync").operation_names),
    *(("sts", name) for name in sorted(sts.SERVICE.handlers)),
    *(("iam", name) for name in sorted(iam.SERVICE.handlers)),
]
# Operations that would remove or reshape the target's own pool or identity when given its
# real ids; they get only made-up ids.
_DESTRUCTIVE = re.compile(r"^(Delete|Update|Set|Merge|Unlink|Untag|Tag)")

RAW_BODIES = [
    b"",
    b"{",
    b"[]",
    b"null",
    b'"text"',
    b"\xff\xfe\x00",
    b'{"a": NaN}',
    b'{"a": Infinity}',
    b'{"a": 1e999}',
    b'{"IdentityPoolId": "\\ud800"}',
    b'{"IdentityPoolId": "a\\u0000b"}',
    b'{"IdentityPoolId": 1, "IdentityPoolId": "x"}',
    b"[" * 50_000,
    b'{"a": ' * 3000,
    b'{"RecordPatches": [{"Op": "replace", "Key": "k", "SyncCount": 99999999999999999999}]}',
    b'{"RecordPatches": [{"Op": "replace", "Key": "k", "SyncCount": 0, '
    b'"DeviceLastModifiedDate": 1e300}]}',
    b"Action=AssumeRoleWithWebIdentity&DurationSeconds=99999999999999999999",
    b"Action=AssumeRoleWithWebIdentity&RoleArn=%ff%fe&WebIdentityToken=%00",
    b"Action=CreateOpenIDConnectProvider&Url=%ED%A0%80&ThumbprintList.member.1=%00",
]
RAW_CONTENT_TYPES = [AMZ_JSON, "application/json", "application/x-www-form-urlencoded", ""]


@dataclass
class Target:
    """A live server to fuzz, with an operator's key and one guest of one pool."""

    endpoint: str
    operator: dict
    pool_id: str
    identity_id: str
    guest: dict  # boto3-style credentials of the guest
    # (service, operation) -> [requests, 5xx answers, 2xx answers]
    counts: dict = field(default_factory=dict)

    def connection(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.endpoint)
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)


def target_on(server, *, operator_name: str = "fuzzer") -> Target:
    """A Target on a running Cognate (servers.Cognate): an operator, a pool, one guest."""
    from tests.conftest import client, make_operator

    operator = make_operator(server, operator_name)
    identity = client(server, "cognito-identity", operator)
    pool_id = identity.create_identity_pool(
        IdentityPoolName="fuzz", AllowUnauthenticatedIdentities=True, AllowClassicFlow=True
    )["IdentityPoolId"]
    anon = client(server, "cognito-identity")
    identity_id = anon.get_id(IdentityPoolId=pool_id)["IdentityId"]
    creds = anon.get_credentials_for_identity(IdentityId=identity_id)["Credentials"]
    return Target(
        endpoint=server.endpoint,
        operator=operator,
        pool_id=pool_id,
        identity_id=identity_id,
        guest={
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretKey"],
            "aws_session_token": creds["SessionToken"],
        },
    )


def params_strategy(target: Target, service: str, operation: str) -> st.SearchStrategy:
    shape = service_model(service).operation_model(operation).input_shape
    base = strategy(shape)
    if _DESTRUCTIVE.match(operation) or shape is None:
        return base
    real = {"IdentityPoolId": target.pool_id, "IdentityId": target.identity_id}
    known = {name: value for name, value in real.items() if name in shape.members}
    if not known:
        return base
    return st.one_of(base, base.map(lambda p: {**p, **known} if isinstance(p, dict) else p))


def _sync_request(target: Target, operation: str, params) -> dict:
    model = service_model("cognito-sync").operation_model(operation)
    members = model.input_shape.members if model.input_shape else {}
    params = params if isinstance(params, dict) else {}
    labels, query, headers, body = {}, {}, {"Content-Type": "application/json"}, {}
    for name, member in members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        value = params.get(name)
        if location == "uri":
            labels[wire] = value if isinstance(value, str) and value else _label(target, wire)
        elif location == "querystring":
            if name in params:
                query[wire] = value if isinstance(value, str) else json.dumps(value)
        elif location == "header":
            if isinstance(value, str) and value.isascii() and value.isprintable():
                headers[wire] = value
        elif name in params:
            body[name] = value
    path = re.sub(
        r"\{(\w+)\}",
        lambda m: quote(labels[m.group(1)].encode("utf-8", "surrogatepass"), safe=""),
        model.http["requestUri"],
    )
    own = labels.get("IdentityId") == target.identity_id
    developer = "IdentityId" not in members
    return {
        "method": model.http["method"],
        "path": path,
        "query": urlencode(query, encoding="utf-8", errors="surrogatepass"),
        "body": json.dumps(body).encode() if body or model.http["method"] == "POST" else b"",
        "headers": headers,
        "credentials": target.operator if developer or not own else target.guest,
        "service": "cognito-sync",
    }


def _label(target: Target, name: str) -> str:
    return {
        "IdentityPoolId": target.pool_id,
        "IdentityId": target.identity_id,
        "DatasetName": "notes",
        "DeviceId": "device-1",
    }[name]


def _query_request(target: Target, service: str, operation: str, params) -> dict:
    model = service_model(service).operation_model(operation)
    try:
        form = create_serializer("query").serialize_to_request(params, model)["body"]
    except Exception:  # ill-typed input the serializer cannot write: send it flat
        form = {"Action": operation, "Version": model.metadata["apiVersion"]}
        if isinstance(params, dict):
            form.update({str(k): str(v) for k, v in params.items()})
    signed = model.auth_type != "none"
    return {
        "body": urlencode(form, encoding="utf-8", errors="surrogatepass").encode(),
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        "credentials": (target.operator if service == "iam" else target.guest) if signed else None,
        "service": service,
    }


def request_for(target: Target, service: str, operation: str, params) -> dict:
    """The keyword arguments of `raw.send` for one fuzzed call."""
    if service == "cognito-sync":
        return _sync_request(target, operation, params)
    if service in ("sts", "iam"):
        return _query_request(target, service, operation, params)
    model = service_model(service).operation_model(operation)
    return {
        "body": json.dumps(params).encode(),
        "headers": {"Content-Type": AMZ_JSON, "X-Amz-Target": TARGET + operation},
        "credentials": target.operator if model.auth_type != "none" else None,
        "service": service,
    }


def problem(answer: Answer, service: str) -> str | None:
    """What is wrong with an answer, if anything: a 5xx, or an error not in AWS's shape."""
    if answer.status >= 500:
        return f"HTTP {answer.status}: {answer.body[:300]!r}"
    if answer.status < 400:
        return None
    if service in ("sts", "iam"):
        if b"<ErrorResponse" not in answer.body or b"<Code>" not in answer.body:
            return f"an error that is not a query ErrorResponse: {answer.body[:300]!r}"
        return None
    try:
        body = json.loads(answer.body)
    except ValueError:
        return f"an error whose body is not JSON: {answer.body[:300]!r}"
    if not body.get("__type") or not answer.headers.get("x-amzn-errortype"):
        return f"an error without __type and x-amzn-ErrorType: {answer.body[:300]!r}"
    return None


def fire(target: Target, service: str, operation: str, params, connection=None) -> str | None:
    """Send one fuzzed call; count it; the problem with its answer, if any."""
    request = request_for(target, service, operation, params)
    answer = send(target.endpoint, connection=connection, **request)
    found = problem(answer, service)
    _tally(target, (service, operation), answer)
    return found


def _tally(target: Target, key: tuple[str, str], answer: Answer) -> None:
    tally = target.counts.setdefault(key, [0, 0, 0])
    tally[0] += 1
    tally[1] += answer.status >= 500
    tally[2] += answer.status < 300


def fire_raw(target: Target, body: bytes, content_type: str, operation: str) -> str | None:
    headers = {"Content-Type": content_type} if content_type else {}
    if content_type != "application/x-www-form-urlencoded":
        headers["X-Amz-Target"] = TARGET + operation
    answer = send(target.endpoint, body=body, headers=headers)
    service = "sts" if "X-Amz-Target" not in headers else "cognito-identity"
    _tally(target, ("raw", content_type or "(none)"), answer)
    return problem(answer, service)
