"""Two real daphne processes sharing PostgreSQL and Redis: a write through the HTTP API of
one reaches a socket held by the other, and a device that missed events catches up by
pulling from its last sync count."""

import contextlib
import json

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from websockets.sync.client import connect

from tests.conftest import temporary_credentials
from tests.support import servers

POOL = "us-east-1:dec0de00-0000-4000-8000-000000000001"


def identity_client(url):
    return boto3.client(
        "cognito-identity",
        endpoint_url=f"{url}/aws",
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED),
    )


@contextlib.contextmanager
def socket(url, token):
    with connect(
        url.replace("http://", "ws://") + "/ws/sync",
        subprotocols=["cognate.sync.v1", f"bearer.{token}"],
        open_timeout=10,
    ) as ws:
        ready = json.loads(ws.recv(timeout=10))
        assert ready["type"] == "ready", ready
        yield ws


def next_of_type(ws, kind):
    while True:
        message = json.loads(ws.recv(timeout=10))
        if message["type"] == kind:
            return message


@pytest.mark.postgres
@pytest.mark.redis
def test_events_cross_processes_and_reconnects_catch_up(tmp_path):
    with servers.cognate(tmp_path, processes=2, label="pair") as live:
        live.manage("ensure_demo_pool")
        first, second = live.urls
        identity = identity_client(first)
        identity_id = identity.get_id(IdentityPoolId=POOL)["IdentityId"]
        token = identity.get_open_id_token(IdentityId=identity_id)["Token"]

        # Credentials and the HTTP API of the *second* process.
        creds = identity_client(second).get_credentials_for_identity(IdentityId=identity_id)
        sync = boto3.client(
            "cognito-sync",
            endpoint_url=f"{second}/aws",
            region_name="us-east-1",
            **temporary_credentials(creds["Credentials"]),
        )
        where = {"IdentityPoolId": POOL, "IdentityId": identity_id, "DatasetName": "notes"}

        def write(key, value, count):
            token = sync.list_records(**where)["SyncSessionToken"]
            sync.update_records(
                **where,
                SyncSessionToken=token,
                RecordPatches=[{"Op": "replace", "Key": key, "Value": value, "SyncCount": count}],
            )

        with socket(first, token) as ws:
            write("a", "one", 0)
            changed = next_of_type(ws, "changed")
            assert (changed["dataset"], changed["syncCount"]) == ("notes", 1)
            assert [(r["Key"], r["Value"]) for r in changed["records"]] == [("a", "one")]
            last_count = changed["syncCount"]

        # The device is away while two more updates happen.
        write("b", "two", 0)
        write("a", "three", 1)

        with socket(second, token) as ws:
            ws.send(json.dumps({"type": "pull", "id": 1, "dataset": "notes", "since": last_count}))
            pulled = next_of_type(ws, "records")
        assert pulled["syncCount"] == 3
        assert [(r["Key"], r["Value"], r["SyncCount"]) for r in pulled["records"]] == [
            ("b", "two", 2),
            ("a", "three", 3),
        ]
