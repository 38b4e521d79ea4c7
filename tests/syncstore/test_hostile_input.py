"""Hostile input to Cognito Sync and the websocket: a 4xx in AWS's shape naming what is
wrong, before anything is written; record values come back exactly as sent, NUL included,
on SQLite and PostgreSQL alike."""

import json
import re
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from identity.shapes import MAX_JSON_DEPTH, service_model
from tests.support.raw import send
from tests.support.shapes import example, strategy
from tests.syncstore.test_consumer import (
    _close_thread_connections,  # noqa: F401  (a fixture)
    closed_with,
    new_identity,
    request,
)
from tests.syncstore.test_consumer import device as open_device

SYNC = service_model("cognito-sync")


def error_of(excinfo) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def rest_call(device, operator_keys, operation: str, body: bytes):
    """`operation` on the device's own paths, signed as the model says it may be."""
    model = SYNC.operation_model(operation)
    labels = {
        "IdentityPoolId": device.pool_id,
        "IdentityId": device.identity_id,
        "DatasetName": "notes",
        "DeviceId": "device-1",
    }
    path = re.sub(
        r"\{(\w+)\}", lambda m: quote(labels[m.group(1)], safe=""), model.http["requestUri"]
    )
    developer = "IdentityId" not in (model.input_shape.members if model.input_shape else {})
    credentials = (
        operator_keys
        if developer
        else {
            "aws_access_key_id": device.credentials["AccessKeyId"],
            "aws_secret_access_key": device.credentials["SecretKey"],
            "aws_session_token": device.credentials["SessionToken"],
        }
    )
    return send(
        device.sync.meta.endpoint_url,
        method=model.http["method"],
        path=path,
        body=body,
        headers={"Content-Type": "application/json"},
        credentials=credentials,
        service="cognito-sync",
    )


def body_members(operation: str) -> dict:
    shape = SYNC.operation_model(operation).input_shape
    return {
        name: member
        for name, member in (shape.members.items() if shape else [])
        if member.serialization.get("location") is None
    }


WITH_BODY = [name for name in SYNC.operation_names if body_members(name)]


@pytest.mark.parametrize("operation", WITH_BODY)
def test_a_lone_surrogate_in_any_body_member_is_a_400_naming_it(device, operator_keys, operation):
    body = {
        name: example(member, text="\ud800") for name, member in body_members(operation).items()
    }
    if operation == "UpdateRecords":
        body["SyncSessionToken"] = device.list()["SyncSessionToken"]
    answer = rest_call(device, operator_keys, operation, json.dumps(body).encode())
    assert (answer.status, answer.code) == (400, "InvalidParameterException"), answer
    assert "lone surrogate" in answer.json()["message"]
    assert device.list()["DatasetExists"] is False  # nothing written


@pytest.mark.parametrize("operation", WITH_BODY)
def test_json_nested_too_deep_is_a_400(device, operator_keys, operation):
    body = b'{"RecordPatches": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    answer = rest_call(device, operator_keys, operation, body)
    assert (answer.status, answer.code) == (400, "InvalidParameterException"), answer
    assert f"deeper than {MAX_JSON_DEPTH} levels" in answer.json()["message"]


NUL_VALUES = ["\x00", "a\x00b", "\x00\x00", "\ue000", "\ue0000", "\ue000\x00\ue000", "é\x00𝄞"]


def test_record_values_come_back_exactly_as_sent_nul_included(device, second_device, ops_sync):
    patches = [
        {"Op": "replace", "Key": f"k{n}", "Value": value, "SyncCount": 0}
        for n, value in enumerate(NUL_VALUES)
    ]
    written = device.update(patches)["Records"]
    assert [r["Value"] for r in written] == NUL_VALUES
    for reader in (device.sync, second_device.sync, ops_sync):
        listed = reader.list_records(
            IdentityPoolId=device.pool_id, IdentityId=device.identity_id, DatasetName="notes"
        )["Records"]
        assert {r["Key"]: r["Value"] for r in listed} == {
            f"k{n}": value for n, value in enumerate(NUL_VALUES)
        }
    size = sum(len(f"k{n}".encode()) + len(v.encode()) for n, v in enumerate(NUL_VALUES))
    described = device.sync.describe_dataset(
        IdentityPoolId=device.pool_id, IdentityId=device.identity_id, DatasetName="notes"
    )["Dataset"]
    assert described["DataStorage"] == size
    # Overwriting a NUL value needs its sync count like any other.
    device.update([{"Op": "replace", "Key": "k1", "Value": "plain", "SyncCount": 1}])
    assert {r["Key"]: r["Value"] for r in device.list()["Records"]}["k1"] == "plain"


@pytest.mark.parametrize(
    ("patch", "extra", "member"),
    [
        ({"Key": "k\x00"}, {}, "recordPatches.1.member.key"),
        ({"Value": "\ud800"}, {}, "recordPatches.1.member.value"),
        ({"Key": "\udfff"}, {}, "recordPatches.1.member.key"),
        ({}, {"DeviceId": "phone\x00"}, "deviceId"),
    ],
)
def test_what_cannot_be_stored_is_refused_before_any_write(device, patch, extra, member):
    device.put("kept", "v")
    patches = [
        {"Op": "replace", "Key": "new", "Value": "v", "SyncCount": 0, **patch},
        {"Op": "replace", "Key": "other", "Value": "w", "SyncCount": 0},
    ]
    with pytest.raises(ClientError) as excinfo:
        device.update(patches, **extra)
    code, message = error_of(excinfo)
    assert code == "InvalidParameterException"
    assert f"at '{member}'" in message
    assert [r["Key"] for r in device.list()["Records"]] == ["kept"]


def test_a_device_token_with_nul_is_refused(device):
    with pytest.raises(ClientError) as excinfo:
        device.sync.register_device(
            IdentityPoolId=device.pool_id,
            IdentityId=device.identity_id,
            Platform="GCM",
            Token="tok\x00en",
        )
    assert error_of(excinfo)[0] == "InvalidParameterException"
    assert "NUL" in error_of(excinfo)[1]


@pytest.mark.django_db(transaction=True)
def test_stream_payloads_keep_nul_through_the_database():
    from identity import selectors, services
    from syncstore.models import Dataset, StreamRecord

    pool = services.pool_create(name="streams", allow_unauthenticated=True)
    identity = services.identity_create_guest(pool=selectors.pool_view(pool.id))
    dataset = Dataset.objects.create(identity=identity, name="notes")
    payload = {"kinesisSyncRecords": [{"key": "k", "value": "a\x00b\ue000"}], "n": 1}
    made = StreamRecord.objects.create(pool=pool, dataset=dataset, sync_count=1, payload=payload)
    assert StreamRecord.objects.get(pk=made.pk).payload == payload


sockets = pytest.mark.django_db(transaction=True)


@sockets
async def test_a_socket_message_nested_too_deep_is_refused_and_closed_1007():
    socket = await open_device(await new_identity())
    await socket.send_to(text_data='{"type": "ping", "x": ' + "[" * 2000 + "]" * 2000 + "}")
    reply = await socket.receive_json_from(timeout=5)
    assert reply["code"] == "SerializationException"
    assert f"deeper than {MAX_JSON_DEPTH} levels" in reply["message"]
    assert await closed_with(socket) == 1007


@sockets
async def test_a_socket_push_of_a_lone_surrogate_is_refused_and_the_socket_stays():
    identity = await new_identity()
    socket = await open_device(identity)
    patch = {"Op": "replace", "Key": "k", "Value": "\ud800", "SyncCount": 0}
    refused = await request(socket, {"type": "push", "id": 1, "dataset": "d", "patches": [patch]})
    assert refused["code"] == "InvalidParameterException", refused
    assert "lone surrogate" in refused["message"]
    patch["Value"] = "a\x00b"
    pushed = await request(socket, {"type": "push", "id": 2, "dataset": "d", "patches": [patch]})
    assert pushed["records"][0]["Value"] == "a\x00b"
    pulled = await request(socket, {"type": "pull", "id": 3, "dataset": "d", "since": 0})
    assert pulled["records"][0]["Value"] == "a\x00b"
    await socket.disconnect()


def generated(strategy, count: int) -> list:
    """`count` examples of a Hypothesis strategy, drawn up front (for async tests)."""
    drawn: list = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value):
        drawn.append(value)

    collect()
    return drawn


_PATCH = strategy(SYNC.shape_for("RecordPatch"))
MESSAGES = st.fixed_dictionaries(
    {"type": st.sampled_from(["auth", "ping", "pull", "push", "teleport"])},
    optional={
        "id": st.one_of(st.integers(), st.text(max_size=5), st.none()),
        "dataset": st.one_of(st.sampled_from(["notes", "a\x00", "\ud800", ""]), st.text()),
        "since": st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.text()),
        "next": st.one_of(st.text(max_size=20), st.sampled_from(["\ud800", "\x00"])),
        "patches": st.one_of(st.lists(_PATCH, max_size=3), st.text()),
        "deviceId": st.one_of(st.text(max_size=20), st.sampled_from(["\ud800", "\x00", ""])),
        "token": st.one_of(st.text(max_size=20), st.sampled_from(["\ud800", "a.b.c"])),
    },
)


@sockets
async def test_no_generated_socket_message_fails_the_server():
    identity = await new_identity()
    messages = generated(MESSAGES, 150)
    socket = await open_device(identity)
    for number, message in enumerate(messages):
        await socket.send_to(text_data=json.dumps(message))
        await socket.send_to(text_data=json.dumps({"type": "ping", "id": f"after-{number}"}))
        while True:
            reply = await socket.receive_output(timeout=5)
            if reply["type"] == "websocket.close":
                assert reply.get("code") not in (1011, None), (message, reply)
                socket = await open_device(identity)
                break
            answer = json.loads(reply["text"])
            assert answer.get("code") != "InternalErrorException", (message, answer)
            if answer == {"type": "pong", "id": f"after-{number}"}:
                break
    await socket.disconnect()


def test_members_the_model_does_not_name_are_not_stored(device, operator_keys, ops_sync):
    """Found by bench/fuzz.py: an unknown member of PushSync holding a lone surrogate was
    stored as it came, and the answer failed."""
    body = {"PushSync": {"ApplicationArns": [], "Unknown": {"x": "\ud800"}}}
    answer = rest_call(
        device, operator_keys, "SetIdentityPoolConfiguration", json.dumps(body).encode()
    )
    assert answer.status == 200, answer
    assert answer.json()["PushSync"] == {"ApplicationArns": []}
    stored = ops_sync.get_identity_pool_configuration(IdentityPoolId=device.pool_id)
    assert stored["PushSync"] == {"ApplicationArns": []}
