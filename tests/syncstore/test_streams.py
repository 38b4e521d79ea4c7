"""Cognito Streams and BulkPublish against moto's Kinesis server: the pool is configured with
boto3's cognito-sync client, updates are made as an identity would make them, and what
reached the stream is read back with boto3's kinesis client (reference §3.10)."""

import dataclasses
import datetime
import json
import time
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import REGION, client, make_operator
from tests.support import servers
from tests.support.errors import error_of
from tests.syncstore.conftest import new_device

KINESIS_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
ROLE = "arn:aws:iam::000000000000:role/cognito-streams"
SYNC_RECORD_FIELDS = {
    "key",
    "value",
    "syncCount",
    "lastModifiedDate",
    "deviceLastModifiedDate",
    "op",
}
PAYLOAD_FIELDS = {
    "identityPoolId",
    "identityId",
    "dataSetName",
    "operation",
    "kinesisSyncRecords",
    "lastModifiedDate",
    "kinesisSyncRecordsURL",
    "payloadType",
    "syncCount",
}


# --- Servers and clients ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def kinesis_endpoint():
    with servers.moto() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def kinesis(kinesis_endpoint):
    return boto3.client(
        "kinesis", endpoint_url=kinesis_endpoint, region_name=REGION, **KINESIS_CREDENTIALS
    )


def streaming_server(tmp, kinesis_url: str, label: str, **env):
    """Cognate delivering to `kinesis_url` with boto3's usual credentials. Without REDIS_URL
    in `env` its tasks run inline, as in the embedded mode."""
    env.setdefault("REDIS_URL", "")
    if not env["REDIS_URL"]:
        env.setdefault("CACHE_URL", f"filecache://{tmp / f'{label}-cache'}")
    return servers.cognate(
        tmp,
        label=label,
        COGNATE_KINESIS_ENDPOINT_URL=kinesis_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        **env,
    )


@pytest.fixture(scope="module")
def cognate(tmp_path_factory, kinesis_endpoint):
    with streaming_server(tmp_path_factory.mktemp("streams"), kinesis_endpoint, "streams") as s:
        yield s


@dataclasses.dataclass
class Setup:
    server: servers.Cognate
    ops: object  # cognito-identity as an operator
    sync: object  # cognito-sync as an operator


def operator_setup(server) -> Setup:
    keys = make_operator(server, f"operator-{uuid.uuid4().hex[:8]}")
    return Setup(
        server, client(server, "cognito-identity", keys), client(server, "cognito-sync", keys)
    )


@pytest.fixture(scope="module")
def setup(cognate):
    return operator_setup(cognate)


def new_pool(setup: Setup) -> str:
    return setup.ops.create_identity_pool(
        IdentityPoolName="streams", AllowUnauthenticatedIdentities=True
    )["IdentityPoolId"]


def new_stream(kinesis, shards: int = 1) -> str:
    name = f"changes-{uuid.uuid4().hex[:10]}"
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1})
    return name


def stream_to(setup: Setup, pool_id: str, stream: str, status: str = "ENABLED") -> dict:
    return setup.sync.set_identity_pool_configuration(
        IdentityPoolId=pool_id,
        CognitoStreams={"StreamName": stream, "RoleArn": ROLE, "StreamingStatus": status},
    )


def guest(setup: Setup, pool_id: str):
    return new_device(setup.server, client(setup.server, "cognito-identity"), pool_id)


def read_stream(kinesis, stream: str) -> list[dict]:
    """Every record in the stream, oldest first per shard, as decoded JSON."""
    return [json.loads(record["Data"]) for record in servers.kinesis_records(kinesis, stream)]


def eventually(check, what: str, timeout: float = 60):
    """Poll `check` until it returns something true (work done by a worker); fail saying
    what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.2)


def bulk_publish_finished(setup: Setup, pool_id: str) -> dict:
    def finished():
        details = setup.sync.get_bulk_publish_details(IdentityPoolId=pool_id)
        return details if details["BulkPublishStatus"] in ("SUCCEEDED", "FAILED") else None

    return eventually(finished, "the bulk publish finished")


# --- Streams ----------------------------------------------------------------------------------
def test_every_update_reaches_the_stream_in_order_in_the_aws_shape(setup, kinesis):
    pool_id, stream = new_pool(setup), new_stream(kinesis, shards=2)
    stream_to(setup, pool_id, stream)
    device = guest(setup, pool_id)
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.UTC)
    first = device.update(
        [
            {
                "Op": "replace",
                "Key": "a",
                "Value": "1",
                "SyncCount": 0,
                "DeviceLastModifiedDate": when,
            }
        ]
    )["Records"][0]
    device.update(
        [
            {"Op": "replace", "Key": "a", "Value": "2", "SyncCount": 1},
            {"Op": "replace", "Key": "b", "Value": "x", "SyncCount": 0},
        ]
    )
    device.update([{"Op": "remove", "Key": "a", "SyncCount": 2}])
    device.put("other", "y", dataset="settings")

    received = read_stream(kinesis, stream)
    assert len(received) == 4
    for payload in received:
        assert set(payload) == PAYLOAD_FIELDS
        assert payload["identityPoolId"] == pool_id
        assert payload["identityId"] == device.identity_id
        assert payload["operation"] == "replace"
        assert payload["payloadType"] == "Inline" and payload["kinesisSyncRecordsURL"] is None
        assert all(set(record) == SYNC_RECORD_FIELDS for record in payload["kinesisSyncRecords"])
    notes = [payload for payload in received if payload["dataSetName"] == "notes"]
    assert [payload["syncCount"] for payload in notes] == [1, 2, 3]
    assert [
        [(r["key"], r["value"], r["syncCount"], r["op"]) for r in payload["kinesisSyncRecords"]]
        for payload in notes
    ] == [
        [("a", "1", 1, "replace")],
        [("a", "2", 2, "replace"), ("b", "x", 2, "replace")],
        [("a", None, 3, "remove")],
    ]
    record = notes[0]["kinesisSyncRecords"][0]
    # Times are epoch milliseconds: the server's, and the device's own.
    assert record["deviceLastModifiedDate"] == 1767323045678
    assert record["lastModifiedDate"] == round(first["LastModifiedDate"].timestamp() * 1000)
    assert notes[0]["lastModifiedDate"] == record["lastModifiedDate"]
    settings = [payload for payload in received if payload["dataSetName"] == "settings"]
    assert [(p["syncCount"], p["kinesisSyncRecords"][0]["key"]) for p in settings] == [(1, "other")]


def test_a_deleted_dataset_is_published_as_a_remove(setup, kinesis):
    pool_id, stream = new_pool(setup), new_stream(kinesis)
    stream_to(setup, pool_id, stream)
    device = guest(setup, pool_id)
    device.put("a", "1")
    device.sync.delete_dataset(
        IdentityPoolId=pool_id, IdentityId=device.identity_id, DatasetName="notes"
    )
    received = read_stream(kinesis, stream)
    assert [(p["operation"], p["syncCount"], p["kinesisSyncRecords"]) for p in received[1:]] == [
        ("remove", 1, [])
    ]


def test_an_update_too_large_for_one_kinesis_record_arrives_in_parts(setup, kinesis):
    pool_id, stream = new_pool(setup), new_stream(kinesis)
    stream_to(setup, pool_id, stream)
    device = guest(setup, pool_id)
    patches = [
        {"Op": "replace", "Key": f"k{n:04}", "Value": "v" * 1000, "SyncCount": 0}
        for n in range(1000)
    ]
    device.update(patches)
    device.put("after", "1")

    received = read_stream(kinesis, stream)
    *parts, after = received
    assert len(parts) >= 2
    assert [(p["part"], p["parts"]) for p in parts] == [
        (n, len(parts)) for n in range(1, 1 + len(parts))
    ]
    assert all(p["syncCount"] == 1 for p in parts)
    keys = [r["key"] for p in parts for r in p["kinesisSyncRecords"]]
    assert keys == [patch["Key"] for patch in patches]
    assert all(r["value"] == "v" * 1000 for p in parts for r in p["kinesisSyncRecords"])
    assert (after["syncCount"], "part" in after) == (2, False)


def test_disabling_streaming_stops_publishing_until_enabled_again(setup, kinesis):
    pool_id, stream = new_pool(setup), new_stream(kinesis)
    stream_to(setup, pool_id, stream)
    device = guest(setup, pool_id)
    device.put("a", "1")
    answer = stream_to(setup, pool_id, stream, status="DISABLED")
    assert answer["CognitoStreams"]["StreamingStatus"] == "DISABLED"
    device.put("a", "2", sync_count=1)
    assert [p["syncCount"] for p in read_stream(kinesis, stream)] == [1]
    stream_to(setup, pool_id, stream)
    device.put("a", "3", sync_count=2)
    assert [p["syncCount"] for p in read_stream(kinesis, stream)] == [1, 3]


def test_a_deleted_stream_disables_streaming_and_updates_go_on(setup, kinesis):
    pool_id, stream = new_pool(setup), new_stream(kinesis)
    stream_to(setup, pool_id, stream)
    device = guest(setup, pool_id)
    kinesis.delete_stream(StreamName=stream)
    device.put("a", "1")  # the update itself succeeds
    assert device.list()["DatasetSyncCount"] == 1
    config = setup.sync.get_identity_pool_configuration(IdentityPoolId=pool_id)
    assert config["CognitoStreams"] == {
        "StreamName": stream,
        "RoleArn": ROLE,
        "StreamingStatus": "DISABLED",
    }


@pytest.mark.parametrize(
    ("streams", "complaint"),
    [
        ({"StreamName": "changes", "StreamingStatus": "PAUSED"}, "ENABLED, DISABLED"),
        ({"RoleArn": ROLE, "StreamingStatus": "ENABLED"}, "StreamName is needed"),
        ({"StreamName": "x" * 129}, "128"),
        ({"StreamName": "my changes!"}, "not a Kinesis stream name"),
        ({"StreamName": "changes", "RoleArn": "arn:aws:iam::1:user/somebody"}, "RoleArn"),
    ],
)
def test_stream_configuration_is_checked(setup, streams, complaint):
    pool_id = new_pool(setup)
    with pytest.raises(ClientError) as excinfo:
        setup.sync.set_identity_pool_configuration(IdentityPoolId=pool_id, CognitoStreams=streams)
    code, message = error_of(excinfo)[:2]
    assert code == "InvalidParameterException"
    assert complaint.lower() in message.lower()
    assert "CognitoStreams" not in setup.sync.get_identity_pool_configuration(
        IdentityPoolId=pool_id
    )


def test_records_kinesis_did_not_take_wait_for_the_sweep(tmp_path, kinesis_endpoint, kinesis):
    """Kinesis unreachable: the update succeeds, the record waits in the outbox, and the
    periodic sweep delivers it once Kinesis answers (here: run with the right endpoint)."""
    unreachable = f"http://127.0.0.1:{servers.free_port()}"
    with streaming_server(tmp_path, unreachable, "unreachable") as server:
        setup = operator_setup(server)
        pool_id, stream = new_pool(setup), new_stream(kinesis)
        stream_to(setup, pool_id, stream)
        device = guest(setup, pool_id)
        device.put("a", "1")
        device.put("a", "2", sync_count=1)
        assert device.list()["DatasetSyncCount"] == 2
        assert read_stream(kinesis, stream) == []

        later = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=1)).isoformat()
        sweep = dataclasses.replace(
            server, env={**server.env, "COGNATE_KINESIS_ENDPOINT_URL": kinesis_endpoint}
        )
        report = sweep.manage(
            "shell",
            "-c",
            "import json; from syncstore.tasks import streams_redeliver; "
            f"print(json.dumps(streams_redeliver({later!r})))",
        ).stdout
        assert json.loads(report.strip().splitlines()[-1]) | {"deferred": 0} == {
            "datasets": 1,
            "delivered": 2,
            "dropped": 0,
            "failed": 0,
            "deferred": 0,
            "bulk_publishes_queued": 0,
        }
    assert [
        (p["syncCount"], p["kinesisSyncRecords"][0]["value"]) for p in read_stream(kinesis, stream)
    ] == [(1, "1"), (2, "2")]


# --- BulkPublish ------------------------------------------------------------------------------
def test_bulk_publish_needs_streaming_enabled(setup, kinesis):
    pool_id = new_pool(setup)
    details = setup.sync.get_bulk_publish_details(IdentityPoolId=pool_id)
    assert (details["IdentityPoolId"], details["BulkPublishStatus"]) == (pool_id, "NOT_STARTED")
    assert "BulkPublishStartTime" not in details
    with pytest.raises(ClientError) as excinfo:
        setup.sync.bulk_publish(IdentityPoolId=pool_id)
    assert error_of(excinfo)[0] == "InvalidConfigurationException"
    stream_to(setup, pool_id, new_stream(kinesis), status="DISABLED")
    with pytest.raises(ClientError) as excinfo:
        setup.sync.bulk_publish(IdentityPoolId=pool_id)
    code, message = error_of(excinfo)[:2]
    assert code == "InvalidConfigurationException"
    assert "StreamingStatus is DISABLED" in message


def test_bulk_publish_republishes_every_live_dataset_once_a_day(setup, kinesis):
    pool_id = new_pool(setup)
    alice, bob = guest(setup, pool_id), guest(setup, pool_id)
    alice.put("a", "1")
    alice.update(
        [
            {"Op": "replace", "Key": "a", "Value": "2", "SyncCount": 1},
            {"Op": "replace", "Key": "gone", "Value": "x", "SyncCount": 0},
        ]
    )
    alice.update([{"Op": "remove", "Key": "gone", "SyncCount": 2}])
    alice.put("theme", "dark", dataset="settings")
    bob.put("b", "1")
    bob.put("old", "1", dataset="deleted")
    bob.sync.delete_dataset(
        IdentityPoolId=pool_id, IdentityId=bob.identity_id, DatasetName="deleted"
    )
    stream = new_stream(kinesis, shards=2)
    stream_to(setup, pool_id, stream)  # after the updates: only BulkPublish sends them

    assert setup.sync.bulk_publish(IdentityPoolId=pool_id)["IdentityPoolId"] == pool_id
    details = bulk_publish_finished(setup, pool_id)
    assert details["BulkPublishStatus"] == "SUCCEEDED", details.get("FailureMessage")
    assert details["BulkPublishStartTime"] <= details["BulkPublishCompleteTime"]
    assert "FailureMessage" not in details

    received = read_stream(kinesis, stream)
    published = {
        (p["identityId"], p["dataSetName"]): (
            p["syncCount"],
            [(r["key"], r["value"], r["syncCount"], r["op"]) for r in p["kinesisSyncRecords"]],
        )
        for p in received
    }
    assert len(received) == len(published) == 3
    assert published == {
        (alice.identity_id, "notes"): (3, [("a", "2", 2, "replace")]),
        (alice.identity_id, "settings"): (1, [("theme", "dark", 1, "replace")]),
        (bob.identity_id, "notes"): (1, [("b", "1", 1, "replace")]),
    }
    assert all(set(p) == PAYLOAD_FIELDS for p in received)

    with pytest.raises(ClientError) as excinfo:
        setup.sync.bulk_publish(IdentityPoolId=pool_id)
    code, message = error_of(excinfo)[:2]
    assert code == "AlreadyStreamedException"
    assert "24 hours" in message
    assert len(read_stream(kinesis, stream)) == 3


def test_a_bulk_publish_whose_task_was_lost_is_one_at_a_time_and_run_by_the_sweep(setup, kinesis):
    pool_id, stream = new_pool(setup), new_stream(kinesis)
    guest(setup, pool_id).put("a", "1")
    stream_to(setup, pool_id, stream)
    # The broker is down when the job is asked for: the job is recorded, its task is not sent.
    broker_down = dataclasses.replace(
        setup.server,
        env={**setup.server.env, "REDIS_URL": f"redis://127.0.0.1:{servers.free_port()}/0"},
    )
    broker_down.manage(
        "shell",
        "-c",
        f"from syncstore import streams; streams.bulk_publish_request(pool_id={pool_id!r})",
    )
    assert setup.sync.get_bulk_publish_details(IdentityPoolId=pool_id)["BulkPublishStatus"] == (
        "NOT_STARTED"
    )
    with pytest.raises(ClientError) as excinfo:
        setup.sync.bulk_publish(IdentityPoolId=pool_id)
    assert error_of(excinfo)[0] == "DuplicateRequestException"

    later = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=10)).isoformat()
    setup.server.manage(
        "shell",
        "-c",
        f"from syncstore.tasks import streams_redeliver; streams_redeliver({later!r})",
    )
    details = setup.sync.get_bulk_publish_details(IdentityPoolId=pool_id)
    assert details["BulkPublishStatus"] == "SUCCEEDED"
    received = read_stream(kinesis, stream)
    assert [(p["syncCount"], p["kinesisSyncRecords"][0]["key"]) for p in received] == [(1, "a")]


def test_a_bulk_publish_into_a_deleted_stream_fails_and_says_why(setup, kinesis):
    pool_id, stream = new_pool(setup), new_stream(kinesis)
    guest(setup, pool_id).put("a", "1")
    stream_to(setup, pool_id, stream)
    kinesis.delete_stream(StreamName=stream)
    setup.sync.bulk_publish(IdentityPoolId=pool_id)
    details = bulk_publish_finished(setup, pool_id)
    assert details["BulkPublishStatus"] == "FAILED"
    assert stream in details["FailureMessage"]
    config = setup.sync.get_identity_pool_configuration(IdentityPoolId=pool_id)
    assert config["CognitoStreams"]["StreamingStatus"] == "DISABLED"
    # A failed bulk publish may be asked for again (once streaming is back).
    stream_to(setup, pool_id, new_stream(kinesis))
    setup.sync.bulk_publish(IdentityPoolId=pool_id)


# --- With a real worker -----------------------------------------------------------------------
@pytest.mark.redis
def test_a_celery_worker_on_redis_delivers_updates_and_runs_bulk_publish(
    tmp_path, kinesis_endpoint, kinesis
):
    import os

    with streaming_server(
        tmp_path, kinesis_endpoint, "worker", REDIS_URL=os.environ["REDIS_URL"]
    ) as server:
        setup = operator_setup(server)
        pool_id, stream = new_pool(setup), new_stream(kinesis)
        stream_to(setup, pool_id, stream)
        device = guest(setup, pool_id)
        for count in range(5):
            device.put("n", str(count), sync_count=count)
        setup.sync.bulk_publish(IdentityPoolId=pool_id)
        # No worker yet: everything waits in the queue.
        assert read_stream(kinesis, stream) == []
        assert setup.sync.get_bulk_publish_details(IdentityPoolId=pool_id)["BulkPublishStatus"] == (
            "NOT_STARTED"
        )
        with pytest.raises(ClientError) as excinfo:
            setup.sync.bulk_publish(IdentityPoolId=pool_id)
        assert error_of(excinfo)[0] == "DuplicateRequestException"

        with servers.celery_worker(server, tmp_path / "worker.log"):
            eventually(
                lambda: (
                    setup.sync.get_bulk_publish_details(IdentityPoolId=pool_id)["BulkPublishStatus"]
                    == "SUCCEEDED"
                ),
                "the worker ran the bulk publish",
            )
            received = eventually(
                lambda: len(got := read_stream(kinesis, stream)) >= 6 and got,
                "five updates and one bulk record in the stream",
            )
            counts = [p["syncCount"] for p in received]
            # Five updates in order, and the bulk record (the dataset at count 5) somewhere.
            assert any(
                counts[:i] + counts[i + 1 :] == [1, 2, 3, 4, 5]
                for i, count in enumerate(counts)
                if count == 5
            ), counts
            assert [p["kinesisSyncRecords"][0]["value"] for p in received] == [
                str(count - 1) for count in counts
            ]
