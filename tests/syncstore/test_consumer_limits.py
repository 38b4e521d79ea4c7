"""The size limit of /ws/sync messages through a real websocket client, on daphne (as `make
run` starts it) and uvicorn (as the README's production command does): a message over
SYNC_WS_MAX_MESSAGE_BYTES closes the socket with 1009, as docs/sync-protocol.md says, and one
of exactly the limit is answered. The limit is set above daphne's own default (1 MiB), so
these also show that daphne takes its limit from the setting."""

import contextlib
import json
import os
import struct

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support import servers

LIMIT = 2 * 1024 * 1024
POOL = "us-east-1:dec0de00-0000-4000-8000-000000000001"


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def live(request, tmp_path_factory):
    with servers.cognate(
        tmp_path_factory.mktemp(request.param),
        server_command=request.param,
        label=f"wslimits_{request.param}",
        SYNC_WS_MAX_MESSAGE_BYTES=str(LIMIT),
    ) as server:
        server.manage("ensure_demo_pool")
        yield server


@pytest.fixture(scope="module")
def token(live):
    client = boto3.client(
        "cognito-identity",
        endpoint_url=live.endpoint,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED),
    )
    identity_id = client.get_id(IdentityPoolId=POOL)["IdentityId"]
    return client.get_open_id_token(IdentityId=identity_id)["Token"]


@contextlib.contextmanager
def ready_socket(live, token):
    with connect(
        live.ws_url,
        subprotocols=["cognate.sync.v1", f"bearer.{token}"],
        open_timeout=10,
        max_size=None,
    ) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        yield ws


def ping_of(size: int) -> str:
    message = json.dumps({"type": "ping", "id": "big"})
    return message + " " * (size - len(message))


def closed_with(ws, message=None) -> int:
    """The close code the server sent, after sending `message` (if any)."""
    with pytest.raises(ConnectionClosed) as closed:
        if message is not None:
            ws.send(message)
        ws.recv(timeout=15)
    assert closed.value.rcvd is not None, "the connection dropped without a close frame"
    return closed.value.rcvd.code


def test_message_of_exactly_the_limit_is_answered(live, token):
    with ready_socket(live, token) as ws:
        ws.send(ping_of(LIMIT))
        assert json.loads(ws.recv(timeout=15)) == {"type": "pong", "id": "big"}


def test_message_over_the_limit_closes_with_1009(live, token):
    with ready_socket(live, token) as ws:
        assert closed_with(ws, ping_of(LIMIT + 1)) == 1009
    with ready_socket(live, token) as ws:
        ws.send(json.dumps({"type": "ping", "id": "after"}))
        assert json.loads(ws.recv(timeout=10))["id"] == "after"


def test_frame_announcing_a_gibibyte_closes_with_1009_before_its_payload_arrives(live, token):
    with ready_socket(live, token) as ws:
        # A text frame whose header announces 1 GiB, then 16 bytes of it: the server answers
        # from the header.
        mask = os.urandom(4)
        payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(b" " * 16))
        ws.socket.sendall(b"\x81\xff" + struct.pack("!Q", 1024**3) + mask + payload)
        assert closed_with(ws) == 1009
