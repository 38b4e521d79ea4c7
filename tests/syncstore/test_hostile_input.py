"""Hostile input to Cognito Sync and the websocket: a 4xx in AWS's shape naming what is
wrong, before anything is written; record values come back exactly as sent, NUL included,
on SQLite and PostgreSQL alike."""

import json
import re
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from aws.shapes import MAX_JSON_DEPTH, service_model
from tests.support.errors import error_of
from tests.support.raw import send
from tests.support.shapes import example

SYNC = service_model("cognito-sync")


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
    code, message = error_of(excinfo)[:2]
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
