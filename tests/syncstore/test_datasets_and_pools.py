"""ListDatasets, DescribeDataset, DeleteDataset, usage, pool configuration, Cognito Events,
devices and subscriptions, through boto3."""

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client, make_operator
from tests.support.errors import error_of


def ids(device):
    return {"IdentityPoolId": device.pool_id, "IdentityId": device.identity_id}


def test_datasets_are_listed_described_and_paged(device):
    for name in ("b-set", "a-set", "c-set"):
        device.put("k", "value", dataset=name)
    described = device.sync.describe_dataset(**ids(device), DatasetName="a-set")["Dataset"]
    assert described["DatasetName"] == "a-set"
    assert described["IdentityId"] == device.identity_id
    assert described["NumRecords"] == 1 and described["DataStorage"] == len("k") + len("value")
    assert described["LastModifiedBy"] == device.identity_id
    first = device.sync.list_datasets(**ids(device), MaxResults=2)
    assert [d["DatasetName"] for d in first["Datasets"]] == ["a-set", "b-set"]
    assert first["Count"] == 2
    rest = device.sync.list_datasets(**ids(device), MaxResults=2, NextToken=first["NextToken"])
    assert [d["DatasetName"] for d in rest["Datasets"]] == ["c-set"]
    assert "NextToken" not in rest


def test_removed_records_leave_storage(device):
    device.update(
        [
            {"Op": "replace", "Key": "a", "Value": "12345", "SyncCount": 0},
            {"Op": "replace", "Key": "b", "Value": "x", "SyncCount": 0},
        ]
    )
    device.update([{"Op": "remove", "Key": "a", "SyncCount": 1}])
    described = device.sync.describe_dataset(**ids(device), DatasetName="notes")["Dataset"]
    assert (described["NumRecords"], described["DataStorage"]) == (1, 2)


def test_describe_and_delete_of_a_missing_dataset_are_not_found(device):
    for call in (device.sync.describe_dataset, device.sync.delete_dataset):
        with pytest.raises(ClientError) as excinfo:
            call(**ids(device), DatasetName="never")
        assert error_of(excinfo)[0::2] == ("ResourceNotFoundException", 404)


def test_deleted_dataset_is_no_longer_listed_or_described(device):
    device.put("k", "v", dataset="temp")
    device.sync.delete_dataset(**ids(device), DatasetName="temp")
    assert device.sync.list_datasets(**ids(device))["Datasets"] == []
    with pytest.raises(ClientError):
        device.sync.describe_dataset(**ids(device), DatasetName="temp")


def test_identity_usage_sums_datasets(device):
    device.put("a", "12", dataset="one")
    device.put("bb", "3", dataset="two")
    usage = device.sync.describe_identity_usage(**ids(device))["IdentityUsage"]
    assert usage["IdentityId"] == device.identity_id
    assert usage["IdentityPoolId"] == device.pool_id
    assert (usage["DatasetCount"], usage["DataStorage"]) == (2, 6)
    assert usage["LastModifiedDate"]


def test_pool_usage_is_for_developers(ops_sync, device):
    device.put("a", "12")
    usage = ops_sync.describe_identity_pool_usage(IdentityPoolId=device.pool_id)
    assert usage["IdentityPoolUsage"]["DataStorage"] == 3
    assert usage["IdentityPoolUsage"]["SyncSessionsCount"] == 1
    listed = ops_sync.list_identity_pool_usage(MaxResults=60)
    assert device.pool_id in [u["IdentityPoolId"] for u in listed["IdentityPoolUsages"]]
    assert listed["MaxResults"] == 60
    with pytest.raises(ClientError) as excinfo:
        device.sync.describe_identity_pool_usage(IdentityPoolId=device.pool_id)
    code, message, status = error_of(excinfo)
    assert (code, status) == ("NotAuthorizedException", 403)
    assert "developer credentials" in message


def test_operators_read_and_write_any_identity_of_their_pools(ops_sync, device):
    device.put("a", "from device")
    listed = ops_sync.list_records(**ids(device), DatasetName="notes")
    assert [r["Value"] for r in listed["Records"]] == ["from device"]
    ops_sync.update_records(
        **ids(device),
        DatasetName="notes",
        SyncSessionToken=listed["SyncSessionToken"],
        RecordPatches=[{"Op": "replace", "Key": "a", "Value": "from ops", "SyncCount": 1}],
    )
    record = device.list(LastSyncCount=1)["Records"][0]
    assert (record["Value"], record["LastModifiedBy"]) == ("from ops", "operator:operator")


def test_pool_configuration_round_trip(ops_sync, device):
    initial = ops_sync.get_identity_pool_configuration(IdentityPoolId=device.pool_id)
    assert initial["IdentityPoolId"] == device.pool_id
    assert "PushSync" not in initial and "CognitoStreams" not in initial
    push = {
        "ApplicationArns": ["arn:aws:sns:us-east-1:000000000000:app/GCM/notes"],
        "RoleArn": "arn:aws:iam::000000000000:role/push",
    }
    streams = {
        "StreamName": "notes-changes",
        "RoleArn": "arn:aws:iam::000000000000:role/s",
        "StreamingStatus": "DISABLED",
    }
    set_result = ops_sync.set_identity_pool_configuration(
        IdentityPoolId=device.pool_id, PushSync=push, CognitoStreams=streams
    )
    assert set_result["PushSync"] == push and set_result["CognitoStreams"] == streams
    got = ops_sync.get_identity_pool_configuration(IdentityPoolId=device.pool_id)
    assert got["PushSync"] == push and got["CognitoStreams"] == streams
    with pytest.raises(ClientError) as excinfo:
        ops_sync.set_identity_pool_configuration(
            IdentityPoolId=device.pool_id,
            PushSync={"ApplicationArns": ["not-an-arn"], "RoleArn": "arn:aws:iam::1:role/x"},
        )
    assert error_of(excinfo)[0] == "InvalidParameterException"


def test_cognito_events_are_set_and_removed(ops_sync, guest_pool):
    pool_id = guest_pool["IdentityPoolId"]
    assert ops_sync.get_cognito_events(IdentityPoolId=pool_id)["Events"] == {}
    target = "arn:aws:lambda:us-east-1:000000000000:function:trigger"
    ops_sync.set_cognito_events(IdentityPoolId=pool_id, Events={"SyncTrigger": target})
    assert ops_sync.get_cognito_events(IdentityPoolId=pool_id)["Events"] == {"SyncTrigger": target}
    ops_sync.set_cognito_events(IdentityPoolId=pool_id, Events={"SyncTrigger": ""})
    assert ops_sync.get_cognito_events(IdentityPoolId=pool_id)["Events"] == {}
    with pytest.raises(ClientError) as excinfo:
        ops_sync.set_cognito_events(IdentityPoolId=pool_id, Events={"OnDelete": target})
    assert "SyncTrigger" in error_of(excinfo)[1]


def test_bulk_publish_needs_streams_configured(ops_sync, guest_pool):
    pool_id = guest_pool["IdentityPoolId"]
    details = ops_sync.get_bulk_publish_details(IdentityPoolId=pool_id)
    assert details["BulkPublishStatus"] == "NOT_STARTED"
    assert "BulkPublishStartTime" not in details
    with pytest.raises(ClientError) as excinfo:
        ops_sync.bulk_publish(IdentityPoolId=pool_id)
    assert error_of(excinfo)[0] == "InvalidConfigurationException"


def test_devices_need_push_configuration_then_register_and_subscribe(ops_sync, device):
    with pytest.raises(ClientError) as excinfo:
        device.sync.register_device(**ids(device), Platform="GCM", Token="t-1")
    assert error_of(excinfo)[0] == "InvalidConfigurationException"
    ops_sync.set_identity_pool_configuration(
        IdentityPoolId=device.pool_id,
        PushSync={
            "ApplicationArns": ["arn:aws:sns:us-east-1:000000000000:app/GCM/notes"],
            "RoleArn": "arn:aws:iam::000000000000:role/push",
        },
    )
    device_id = device.sync.register_device(**ids(device), Platform="GCM", Token="t-1")["DeviceId"]
    again = device.sync.register_device(**ids(device), Platform="GCM", Token="t-1")["DeviceId"]
    assert device_id == again
    device.sync.subscribe_to_dataset(**ids(device), DatasetName="notes", DeviceId=device_id)
    device.sync.unsubscribe_from_dataset(**ids(device), DatasetName="notes", DeviceId=device_id)
    with pytest.raises(ClientError) as excinfo:
        device.sync.subscribe_to_dataset(**ids(device), DatasetName="notes", DeviceId="nope")
    assert error_of(excinfo)[0::2] == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as excinfo:
        ops_sync.register_device(**ids(device), Platform="GCM", Token="t-2")
    assert "temporary credentials" in error_of(excinfo)[1]


def test_operator_without_sync_permissions_is_refused(live, device):
    keys = make_operator(live, "sync-no-perms", superuser=False)
    sync = client(live, "cognito-sync", keys)
    with pytest.raises(ClientError) as excinfo:
        sync.list_records(**ids(device), DatasetName="notes")
    code, message, status = error_of(excinfo)
    assert (code, status) == ("NotAuthorizedException", 403)
    assert "syncstore.view_dataset" in message
