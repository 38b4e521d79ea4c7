"""Cognito Events: Sync Triggers during UpdateRecords, against a local webhook and moto's
Lambda (which runs here without Docker: moto's simple Lambda answers with the event it was
given, or with the answers queued through its API)."""

import contextlib
import hashlib
import hmac
import io
import json
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from tests.conftest import REGION, client, make_operator
from tests.support import servers
from tests.support.errors import error_of
from tests.syncstore.conftest import new_device

SECRET = "webhook-secret-for-tests"


class Webhook:
    """A local HTTP endpoint for SyncTrigger: `answer(event)` → (status, body, delay)."""

    def __init__(self):
        self.events: list[dict] = []
        self.signatures: list[str | None] = []
        self.answer = lambda event: (200, event, 0)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                event = json.loads(body)
                outer.events.append(json.loads(body))
                outer.signatures.append(self.headers.get("X-Cognate-Signature"))
                outer.bodies.append(body)
                status, answer, delay, *how = outer.answer(event)
                time.sleep(delay)
                payload = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if how == ["drip"]:  # a byte at a time, each in time, the whole too slow
                        for byte in payload:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(0.4)
                    elif how == ["stall"]:  # the headers, then nothing
                        self.wfile.flush()
                        time.sleep(4)
                    else:
                        self.wfile.write(payload)
                except OSError:
                    pass  # the caller gave up waiting

            def log_message(self, *args):
                pass

        self.bodies: list[bytes] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/trigger"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def moto():
    with servers.moto() as endpoint:
        # moto's Lambda without Docker: invocations answer with queued results or the event.
        requests.post(f"{endpoint}/moto-api/config", json={"lambda": {"use_docker": False}})
        yield endpoint


@pytest.fixture(scope="module")
def server(tmp_path_factory, moto):
    with servers.cognate(
        tmp_path_factory.mktemp("triggers"),
        label="triggers",
        SYNC_TRIGGER_ALLOW_HTTP="true",
        COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES="true",  # the webhook listens on 127.0.0.1
        SYNC_TRIGGER_TIMEOUT="1.5",
        SYNC_TRIGGER_WEBHOOK_SECRET=SECRET,
        COGNATE_AWS_THREADS="4",  # on SQLite too: one call waits while others are served
        COGNATE_LAMBDA_ENDPOINT_URL=moto,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    ) as live:
        yield live


@pytest.fixture(scope="module")
def keys(server):
    return make_operator(server, "trigger-operator")


@pytest.fixture(scope="module")
def webhook():
    hook = Webhook()
    yield hook
    hook.stop()


@pytest.fixture
def pool(server, keys, webhook):
    ops = client(server, "cognito-identity", keys)
    made = ops.create_identity_pool(
        IdentityPoolName="triggers", AllowUnauthenticatedIdentities=True
    )
    webhook.events.clear()
    webhook.answer = lambda event: (200, event, 0)
    yield made["IdentityPoolId"]
    ops.delete_identity_pool(IdentityPoolId=made["IdentityPoolId"])


@pytest.fixture
def ops_sync(server, keys):
    return client(server, "cognito-sync", keys)


@pytest.fixture
def device(server, pool):
    return new_device(server, client(server, "cognito-identity"), pool)


def set_trigger(ops_sync, pool, target):
    ops_sync.set_cognito_events(IdentityPoolId=pool, Events={"SyncTrigger": target})


def values(device, dataset="notes"):
    listed = device.list(dataset, LastSyncCount=0)
    live = {r["Key"]: r["Value"] for r in listed["Records"] if r.get("Value") is not None}
    return live, listed["DatasetSyncCount"]


def test_the_webhook_sees_every_record_and_its_changes_are_written(ops_sync, pool, device, webhook):
    device.update(
        [
            {"Op": "replace", "Key": "a", "Value": "1", "SyncCount": 0},
            {"Op": "replace", "Key": "b", "Value": "2", "SyncCount": 0},
        ]
    )
    set_trigger(ops_sync, pool, webhook.url)

    def answer(event):
        records = event["datasetRecords"]
        records["c"]["newValue"] = records["c"]["newValue"].upper()  # change a proposed value
        records["added"] = {"newValue": "by the trigger", "op": "replace"}  # add a record
        records["b"] = {"newValue": None, "op": "remove"}  # remove an existing one
        del records["a"]  # left out: taken as proposed (unchanged)
        return 200, event, 0

    webhook.answer = answer
    written = device.update(
        [
            {"Op": "replace", "Key": "c", "Value": "shout", "SyncCount": 0},
            {"Op": "replace", "Key": "d", "Value": "as sent", "SyncCount": 0},
        ]
    )["Records"]

    (event,) = webhook.events
    assert event["version"] == 2 and event["eventType"] == "SyncTrigger"
    assert event["region"] == REGION and event["identityPoolId"] == pool
    assert event["identityId"] == device.identity_id and event["datasetName"] == "notes"
    assert event["datasetRecords"] == {
        "a": {"oldValue": "1", "newValue": "1", "op": "replace"},
        "b": {"oldValue": "2", "newValue": "2", "op": "replace"},
        "c": {"oldValue": None, "newValue": "shout", "op": "replace"},
        "d": {"oldValue": None, "newValue": "as sent", "op": "replace"},
    }
    assert {r["Key"]: (r.get("Value"), r["SyncCount"]) for r in written} == {
        "c": ("SHOUT", 2),
        "d": ("as sent", 2),
        "added": ("by the trigger", 2),
        "b": (None, 2),
    }
    assert values(device) == (
        {"a": "1", "c": "SHOUT", "d": "as sent", "added": "by the trigger"},
        2,
    )
    # The call is signed with the configured secret.
    expected = hmac.new(SECRET.encode(), webhook.bodies[-1], hashlib.sha256).hexdigest()
    assert webhook.signatures[-1] == f"sha256={expected}"


def test_a_removal_reaches_the_trigger_as_remove(ops_sync, pool, device, webhook):
    device.put("gone", "soon")
    set_trigger(ops_sync, pool, webhook.url)
    device.update([{"Op": "remove", "Key": "gone", "Value": "", "SyncCount": 1}])
    assert webhook.events[-1]["datasetRecords"]["gone"] == {
        "oldValue": "soon",
        "newValue": None,
        "op": "remove",
    }
    assert values(device) == ({}, 2)


def test_a_webhook_that_times_out_writes_nothing(ops_sync, pool, device, webhook):
    set_trigger(ops_sync, pool, webhook.url)
    webhook.answer = lambda event: (200, event, 3)  # longer than SYNC_TRIGGER_TIMEOUT (1.5 s)
    with pytest.raises(ClientError) as caught:
        device.put("k", "v")
    assert error_of(caught)[0::2] == ("LambdaSocketTimeoutException", 400)
    assert "did not answer within 1.5 seconds" in error_of(caught).message
    webhook.answer = lambda event: (200, event, 0)
    assert values(device) == ({}, 0)


def test_a_call_waiting_on_its_trigger_does_not_hold_up_other_calls(
    server, ops_sync, pool, device, webhook
):
    """The server does the AWS API's work in COGNATE_AWS_THREADS threads: while one
    UpdateRecords waits for its webhook, another identity's ListRecords is answered. With one
    thread it would be answered only after the update gave up on the webhook."""
    set_trigger(ops_sync, pool, webhook.url)
    release = threading.Event()
    webhook.answer = lambda event: (release.wait(10), (200, event, 0))[1]
    other = new_device(server, client(server, "cognito-identity"), pool)
    token = device.list()["SyncSessionToken"]
    answered = threading.Event()
    outcome: list = []

    def write():
        try:
            outcome.append(
                device.update(
                    [{"Op": "replace", "Key": "k", "Value": "v", "SyncCount": 0}], token=token
                )
            )
        except ClientError as error:
            outcome.append(error)
        finally:
            answered.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for _ in range(100):  # the update is at the webhook, waiting
            if webhook.events:
                break
            time.sleep(0.05)
        assert webhook.events, "the update never reached its trigger"
        assert other.list()["Records"] == []
        assert not answered.is_set(), "the other call waited for the update"
    finally:
        release.set()
        writer.join(15)
    webhook.answer = lambda event: (200, event, 0)
    assert answered.is_set() and len(outcome) == 1


@pytest.mark.parametrize("how", ["stall", "drip"])
def test_a_webhook_that_stalls_or_drips_its_answer_times_out(ops_sync, pool, device, webhook, how):
    set_trigger(ops_sync, pool, webhook.url)
    webhook.answer = lambda event: (200, event, 0, how)
    with pytest.raises(ClientError) as caught:
        device.put("k", "v")
    assert error_of(caught)[0::2] == ("LambdaSocketTimeoutException", 400)
    webhook.answer = lambda event: (200, event, 0)
    assert values(device) == ({}, 0)


@pytest.mark.parametrize(
    "answer",
    [
        b"[" * 100_000,
        b"not json",
        {"datasetRecords": "nope"},
        {"datasetRecords": {"k": {"newValue": 5, "op": "replace"}}},
        {"datasetRecords": {"k": {"newValue": "v", "op": "upsert"}}},
        {"datasetRecords": {"bad key!": {"newValue": "v", "op": "replace"}}},
        [],
    ],
    ids=[
        "too-deep",
        "not-json",
        "records-not-object",
        "value-not-string",
        "unknown-op",
        "bad-key",
        "list",
    ],
)
def test_bad_output_is_refused_and_nothing_is_written(ops_sync, pool, device, webhook, answer):
    set_trigger(ops_sync, pool, webhook.url)
    webhook.answer = lambda event: (200, answer, 0)
    with pytest.raises(ClientError) as caught:
        device.put("k", "v")
    assert error_of(caught)[0::2] == ("InvalidLambdaFunctionOutputException", 400)
    webhook.answer = lambda event: (200, event, 0)
    assert values(device) == ({}, 0)


def test_a_throttled_or_failing_webhook(ops_sync, pool, device, webhook):
    set_trigger(ops_sync, pool, webhook.url)
    webhook.answer = lambda event: (429, {"message": "slow down"}, 0)
    with pytest.raises(ClientError) as caught:
        device.put("k", "v")
    assert error_of(caught)[0::2] == ("LambdaThrottledException", 429)
    webhook.answer = lambda event: (500, {"message": "broken"}, 0)
    with pytest.raises(ClientError) as caught:
        device.put("k", "v")
    assert error_of(caught)[0::2] == ("InvalidLambdaFunctionOutputException", 400)
    assert "answered HTTP 500" in error_of(caught).message
    assert values(device) == ({}, 0)


def test_operator_updates_do_not_run_the_trigger(ops_sync, pool, device, webhook):
    set_trigger(ops_sync, pool, webhook.url)
    token = ops_sync.list_records(
        IdentityPoolId=pool, IdentityId=device.identity_id, DatasetName="notes"
    )["SyncSessionToken"]
    ops_sync.update_records(
        IdentityPoolId=pool,
        IdentityId=device.identity_id,
        DatasetName="notes",
        SyncSessionToken=token,
        RecordPatches=[{"Op": "replace", "Key": "k", "Value": "v", "SyncCount": 0}],
    )
    assert webhook.events == []


def test_removing_the_trigger_stops_it(ops_sync, pool, device, webhook):
    set_trigger(ops_sync, pool, webhook.url)
    ops_sync.set_cognito_events(IdentityPoolId=pool, Events={"SyncTrigger": ""})
    assert ops_sync.get_cognito_events(IdentityPoolId=pool)["Events"] == {}
    time.sleep(1.1)  # other processes see configuration changes within a second
    device.put("k", "v")
    assert webhook.events == []


@pytest.mark.parametrize(
    "target",
    [
        "ftp://example.com/hook",
        "arn:aws:lambda:us-east-1:12:function:short-account",
        "arn:aws:sns:us-east-1:123456789012:topic",
        "https://exa mple.com/",
        "https://[::1/hook",
        "https://hooks.example.com:99999/",
    ],
)
def test_targets_that_are_neither_a_function_nor_https_are_refused(ops_sync, pool, target):
    with pytest.raises(ClientError) as caught:
        set_trigger(ops_sync, pool, target)
    assert error_of(caught)[0::2] == ("InvalidParameterException", 400)
    assert ops_sync.get_cognito_events(IdentityPoolId=pool)["Events"] == {}


@contextlib.contextmanager
def lambda_function(moto):
    kw = dict(
        endpoint_url=moto,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    role = boto3.client("iam", **kw).create_role(
        RoleName=f"trigger-{time.monotonic_ns()}", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("trigger.py", "def handler(event, context):\n    return event\n")
    functions = boto3.client("lambda", **kw)
    name = f"trigger-{time.monotonic_ns()}"
    made = functions.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="trigger.handler",
        Code={"ZipFile": code.getvalue()},
    )
    yield made["FunctionArn"]
    functions.delete_function(FunctionName=name)


def queue_lambda_answers(moto, *answers):
    response = requests.post(
        f"{moto}/moto-api/static/lambda-simple/response",
        json={"results": [json.dumps(a) if not isinstance(a, str) else a for a in answers]},
    )
    assert response.status_code == 201


def test_a_lambda_function_trigger(ops_sync, pool, device, moto):
    with lambda_function(moto) as arn:
        set_trigger(ops_sync, pool, arn)
        # moto's function answers with the event itself: the update goes through unchanged.
        device.put("plain", "as sent")
        assert values(device) == ({"plain": "as sent"}, 1)
        # An answer that changes the value and adds a record.
        queue_lambda_answers(
            moto,
            {
                "datasetRecords": {
                    "k": {"oldValue": None, "newValue": "from lambda", "op": "replace"},
                    "extra": {"newValue": "added", "op": "replace"},
                }
            },
        )
        device.put("k", "v")
        assert values(device) == ({"plain": "as sent", "k": "from lambda", "extra": "added"}, 2)
        # An answer that is not JSON.
        queue_lambda_answers(moto, "Simple Lambda happy path OK")
        with pytest.raises(ClientError) as caught:
            device.put("k2", "v")
        assert error_of(caught)[0::2] == ("InvalidLambdaFunctionOutputException", 400)
    assert values(device)[1] == 2


@pytest.mark.django_db(transaction=True)
async def test_pushes_over_the_websocket_go_through_the_trigger(settings, webhook):
    from asgiref.sync import sync_to_async

    from syncstore import services as sync_services
    from tests.syncstore.test_consumer import device, new_identity, patch, request

    settings.SYNC_TRIGGER_ALLOW_HTTP = True
    settings.COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    settings.SYNC_TRIGGER_WEBHOOK_SECRET = ""
    webhook.events.clear()

    def answer(event):
        event["datasetRecords"]["k"]["newValue"] = "from the webhook"
        return 200, event, 0

    webhook.answer = answer
    identity = await new_identity()
    await sync_to_async(sync_services.events_set)(
        pool_id=identity.pool_id, events={"SyncTrigger": webhook.url}
    )
    socket = await device(identity)
    pushed = await request(
        socket, {"type": "push", "id": 1, "dataset": "d", "patches": [patch("k", "v")]}
    )
    assert pushed["type"] == "pushed", pushed
    assert [(r["Key"], r["Value"]) for r in pushed["records"]] == [("k", "from the webhook")]
    assert webhook.events[-1]["identityId"] == identity.id
    webhook.answer = lambda event: (200, b"nonsense", 0)
    refused = await request(
        socket, {"type": "push", "id": 2, "dataset": "d", "patches": [patch("k", "w", 1)]}
    )
    assert refused["type"] == "error"
    assert refused["code"] == "InvalidLambdaFunctionOutputException"
    await socket.disconnect()
    # The consumer's database work ran in asgiref's thread: close its connection so the test
    # database can be dropped.
    from django.db import connections

    await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
async def test_a_socket_too_far_behind_is_closed_to_resync_and_the_others_hear_everything(
    settings, webhook
):
    """A socket busy with a push whose trigger is slow takes no events meanwhile: past
    PENDING_EVENTS_MAX it is closed with 1013 (reconnect and pull) rather than left unaware
    that it missed some, and the identity's other socket hears every event."""
    from asgiref.sync import sync_to_async
    from django.db import connections

    from syncstore import services as sync_services
    from syncstore.consumers import PENDING_EVENTS_MAX
    from tests.syncstore.test_consumer import closed_with, device, new_identity, patch

    settings.SYNC_TRIGGER_ALLOW_HTTP = True
    settings.COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    settings.SYNC_TRIGGER_WEBHOOK_SECRET = ""
    asked, release = threading.Event(), threading.Event()

    def answer(event):
        asked.set()
        release.wait(20)
        return 200, event, 0

    webhook.answer = answer
    identity = await new_identity()
    await sync_to_async(sync_services.events_set)(
        pool_id=identity.pool_id, events={"SyncTrigger": webhook.url}
    )
    busy, other = await device(identity), await device(identity)
    try:
        await busy.send_json_to(
            {"type": "push", "id": 1, "dataset": "d", "patches": [patch("k", "v")]}
        )
        assert await sync_to_async(asked.wait, thread_sensitive=False)(10)

        def write(n):  # another device, over HTTP
            sync_services.records_update(
                identity=identity,
                dataset_name="other",
                patches=[sync_services.Patch(key=f"k{n}", op="replace", value="v", sync_count=0)],
                modified_by="http",
            )
            connections.close_all()

        for n in range(PENDING_EVENTS_MAX + 1):
            await sync_to_async(write, thread_sensitive=False)(n)
        heard = [await other.receive_json_from(timeout=5) for _ in range(PENDING_EVENTS_MAX + 1)]
        assert [event["syncCount"] for event in heard] == list(range(1, PENDING_EVENTS_MAX + 2))
        assert await closed_with(busy) == 1013
    finally:
        release.set()
        webhook.answer = lambda event: (200, event, 0)
    await busy.disconnect(timeout=10)
    await other.disconnect()
    await sync_to_async(connections.close_all)()


def guest_with_trigger(url: str):
    """In this process: a guest of a new pool whose SyncTrigger is `url`."""
    from identity import selectors as identity_selectors
    from identity import services as identity_services
    from syncstore import services as sync_services

    pool = identity_services.pool_create(name="triggered", allow_unauthenticated=True)
    sync_services.events_set(pool_id=pool.id, events={"SyncTrigger": url})
    return identity_services.identity_create_guest(pool=identity_selectors.pool_view(pool.id))


@pytest.mark.django_db(transaction=True)
def test_a_dataset_changed_while_the_trigger_ran_is_a_conflict(settings, webhook):
    """The trigger runs with no lock held: an update that lands meanwhile wins, and the
    triggered one is refused whole, to be synced again."""
    from syncstore import services as sync_services

    settings.SYNC_TRIGGER_ALLOW_HTTP = True
    settings.COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    guest = guest_with_trigger(webhook.url)

    def meanwhile(event):
        # Another device writes while the trigger is being asked.
        sync_services.records_update(
            identity=guest,
            dataset_name="notes",
            patches=[sync_services.Patch("other", "replace", "first", 0)],
            modified_by="other device",
        )
        return 200, event, 0

    webhook.answer = meanwhile
    with pytest.raises(sync_services.ResourceConflict) as caught:
        sync_services.records_update(
            identity=guest,
            dataset_name="notes",
            patches=[sync_services.Patch("mine", "replace", "late", 0)],
            modified_by="this device",
            trigger=True,
        )
    assert "changed while its SyncTrigger ran" in caught.value.message
    webhook.answer = lambda event: (200, event, 0)
    from syncstore.models import Record

    assert dict(Record.objects.values_list("key", "value")) == {"other": "first"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("localhost", "localhost is a loopback name"),
        ("2130706433", "2130706433 resolves to 127.0.0.1, a loopback address"),
        (
            "[::ffff:127.0.0.1]",
            "::ffff:127.0.0.1 is a loopback address (127.0.0.1) in IPv4-mapped form",
        ),
        ("169.254.169.254", "169.254.169.254 is a cloud metadata address"),
        ("10.0.0.1", "10.0.0.1 is a private address"),
    ],
)
def test_webhooks_on_internal_addresses_are_refused(settings, webhook, host, why):
    """Registered while allowed, then called where internal addresses are refused: the call
    is refused at the address it would connect to, and nothing is sent or written."""
    from syncstore import services as sync_services
    from syncstore.models import Dataset

    settings.SYNC_TRIGGER_ALLOW_HTTP = True
    settings.COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    url = webhook.url.replace("127.0.0.1", host)
    guest = guest_with_trigger(url)
    settings.COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    webhook.events.clear()
    with pytest.raises(sync_services.InvalidLambdaFunctionOutput) as caught:
        sync_services.records_update(
            identity=guest,
            dataset_name="notes",
            patches=[sync_services.Patch("k", "replace", "v", 0)],
            modified_by="device",
            trigger=True,
        )
    assert caught.value.message == (
        f"The SyncTrigger webhook {url} is refused: {why}; Cognate does not connect to internal "
        "addresses unless COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES=true (local development and "
        "tests only); nothing was written."
    )
    assert webhook.events == []
    assert not Dataset.objects.filter(identity=guest).exists()
