"""Limits that act before a request is read, on real sockets, on daphne (as `make run` starts
it) and uvicorn (as the README's production command does): a body over
COGNATE_MAX_BODY_BYTES is answered 413 from its Content-Length, or as soon as a chunked body
passes the limit, on /aws in the shape of the protocol and on Django's paths; oversized
request lines and headers get the status docs/operations.md gives for each server."""

import http.client
import json
import socket
from xml.etree import ElementTree as ET

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from tests.support import servers

LIMIT = 64 * 1024
POOL = "us-east-1:dec0de00-0000-4000-8000-000000000001"
GIB = 1024**3

IDENTITY = {
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Target": "AWSCognitoIdentityService.GetId",
}
# Where a request goes, its headers, and how its 413 reads: (status, error code).
TARGETS = {
    "cognito-identity": ("/aws", IDENTITY),
    "sts": ("/aws", {"Content-Type": "application/x-www-form-urlencoded"}),
    "cognito-sync": (
        f"/aws/identitypools/{POOL}/identities/{POOL}/datasets/notes",
        {"Content-Type": "application/json"},
    ),
    "no API at this /aws path": ("/aws/nothing-here", {"Content-Type": "application/json"}),
    "django": ("/accounts/login/", {"Content-Type": "application/x-www-form-urlencoded"}),
}


def assert_too_large(target: str, headers, body: bytes) -> None:
    """The 413 reads as an AWS SDK expects it under /aws, and as text on Django's paths."""
    if target == "django":
        assert f"larger than this server accepts ({LIMIT} bytes)" in body.decode()
        return
    if target == "sts":
        assert ET.fromstring(body).findtext("{*}Error/{*}Code") == "RequestEntityTooLarge"
        return
    assert headers["x-amzn-RequestId"]
    payload = json.loads(body)
    assert payload["__type"] == "RequestEntityTooLargeException"
    assert headers["x-amzn-ErrorType"] == "RequestEntityTooLargeException:"


def _start(name, tmp_path_factory):
    with servers.cognate(
        tmp_path_factory.mktemp(name),
        server_command=name,
        label=f"limits_{name}",
        COGNATE_MAX_BODY_BYTES=str(LIMIT),
    ) as live:
        live.manage("ensure_demo_pool")
        yield live


@pytest.fixture(scope="module")
def daphne(tmp_path_factory):
    yield from _start("daphne", tmp_path_factory)


@pytest.fixture(scope="module")
def uvicorn(tmp_path_factory):
    yield from _start("uvicorn", tmp_path_factory)


@pytest.fixture(params=["daphne", "uvicorn"])
def server(request):
    return request.param, request.getfixturevalue(request.param)


def open_socket(live) -> socket.socket:
    port = int(live.url.rsplit(":", 1)[1])
    # A server that waits for the rest of the body never answers: the read times out.
    return socket.create_connection(("127.0.0.1", port), timeout=15)


def head(method: str, path: str, headers: dict) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_answer(sock: socket.socket) -> tuple[int, http.client.HTTPMessage, bytes]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, response.headers, response.read()


def get_id(live) -> str:
    client = boto3.client(
        "cognito-identity",
        endpoint_url=live.endpoint,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}),
    )
    return client.get_id(IdentityPoolId=POOL)["IdentityId"]


@pytest.mark.parametrize("target", TARGETS)
def test_declared_body_over_the_limit_is_refused_before_it_is_sent(server, target):
    _, live = server
    path, headers = TARGETS[target]
    with open_socket(live) as sock:
        # A gibibyte announced, a few bytes sent: the answer comes without the rest.
        sock.sendall(head("POST", path, {**headers, "Content-Length": GIB}) + b"Action=Get")
        status, answer_headers, body = read_answer(sock)
    assert status == 413
    assert_too_large(target, answer_headers, body)


def test_client_that_waits_for_100_continue_gets_the_413_instead(server):
    _, live = server
    expect = {**IDENTITY, "Content-Length": GIB, "Expect": "100-continue", "Connection": "close"}
    with open_socket(live) as sock:
        sock.sendall(head("POST", "/aws", expect))
        arrived = b"".join(iter(lambda: sock.recv(65536), b""))
    assert arrived.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in arrived


@pytest.mark.parametrize("target", TARGETS)
def test_chunked_body_is_cut_off_once_it_passes_the_limit(server, target):
    _, live = server
    path, headers = TARGETS[target]
    chunk = b"x" * (16 * 1024)
    with open_socket(live) as sock:
        sock.sendall(head("POST", path, {**headers, "Transfer-Encoding": "chunked"}))
        # Just past the limit, and no last chunk: the body never ends.
        for _ in range(LIMIT // len(chunk) + 1):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        status, answer_headers, body = read_answer(sock)
    assert status == 413
    assert_too_large(target, answer_headers, body)


def test_client_that_sends_the_whole_body_before_reading_still_gets_the_413(server):
    _, live = server
    port = int(live.url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    connection.request("POST", "/aws", body=b"{" + b" " * (16 * LIMIT) + b"}", headers=IDENTITY)
    response = connection.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["__type"] == "RequestEntityTooLargeException"
    connection.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_of_exactly_the_limit_is_served(server, chunked):
    _, live = server
    call = json.dumps({"IdentityPoolId": POOL}).encode()
    body = call + b" " * (LIMIT - len(call))
    with open_socket(live) as sock:
        if chunked:
            sock.sendall(head("POST", "/aws", {**IDENTITY, "Transfer-Encoding": "chunked"}))
            sock.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        else:
            sock.sendall(head("POST", "/aws", {**IDENTITY, "Content-Length": len(body)}) + body)
        status, _, answer = read_answer(sock)
    assert status == 200, answer
    assert json.loads(answer)["IdentityId"].startswith("us-east-1:")


def test_server_keeps_serving_after_refusing_bodies(server):
    _, live = server
    for _ in range(3):
        with open_socket(live) as sock:
            sock.sendall(head("POST", "/aws", {**IDENTITY, "Content-Length": GIB}))
            assert read_answer(sock)[0] == 413
    assert get_id(live).startswith("us-east-1:")


# daphne (twisted) refuses a request line over 16 KiB with 414; uvicorn's httptools parser
# takes one up to 64 KiB and refuses a longer one with 400.
REQUEST_LINE = {"daphne": (20_000, 414), "uvicorn": (100_000, 400)}


def test_request_line_over_the_limit_is_refused(server):
    name, live = server
    length, expected = REQUEST_LINE[name]
    with open_socket(live) as sock:
        sock.sendall(head("GET", "/healthz?" + "a" * length, {"Connection": "close"}))
        assert read_answer(sock)[0] == expected
    assert get_id(live).startswith("us-east-1:")


def test_request_line_within_the_limit_is_served(server):
    _, live = server
    with open_socket(live) as sock:
        sock.sendall(head("GET", "/healthz?" + "a" * 15_000, {"Connection": "close"}))
        assert read_answer(sock)[0] == 200


# uvicorn sets no limit on headers (docs/operations.md): these are daphne's.
HEADERS = {
    "one header line over 16 KiB": {"X-Big": "a" * 20_000},
    "headers over 16 KiB in all": {f"X-Part-{n}": "a" * 1000 for n in range(20)},
    "more than 500 headers": {f"X-Many-{n}": "a" for n in range(501)},
}


@pytest.mark.parametrize("headers", HEADERS.values(), ids=HEADERS.keys())
def test_headers_over_daphnes_limits_are_431(daphne, headers):
    with open_socket(daphne) as sock:
        sock.sendall(head("GET", "/healthz", {**headers, "Connection": "close"}))
        status, _, body = read_answer(sock)
    assert status == 431
    assert b"Request Header Fields Too Large" in body
    assert get_id(daphne).startswith("us-east-1:")


def test_headers_within_daphnes_limits_are_served(daphne):
    headers = {f"X-Part-{n}": "a" * 1000 for n in range(14)}
    with open_socket(daphne) as sock:
        sock.sendall(head("GET", "/healthz", {**headers, "Connection": "close"}))
        assert read_answer(sock)[0] == 200
