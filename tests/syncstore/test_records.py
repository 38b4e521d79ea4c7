"""ListRecords and UpdateRecords through boto3: the contract the Cognito Sync clients rely on
(reference §4.7)."""

import datetime

import pytest
from botocore.exceptions import ClientError

from tests.support.errors import error_of
from tests.syncstore.conftest import new_device


def test_a_dataset_that_does_not_exist_lists_empty_with_a_token(device):
    got = device.list(LastSyncCount=0)
    assert got["Records"] == []
    assert got["Count"] == 0
    assert got["DatasetSyncCount"] == 0
    assert got["DatasetExists"] is False
    assert got["DatasetDeletedAfterRequestedSyncCount"] is False
    assert got["SyncSessionToken"]
    assert "MergedDatasetNames" not in got


def test_first_update_creates_the_dataset_at_count_one(device):
    token = device.list()["SyncSessionToken"]
    written = device.update(
        [
            {
                "Op": "replace",
                "Key": "score",
                "Value": "10",
                "SyncCount": 0,
                "DeviceLastModifiedDate": datetime.datetime(
                    2026, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.UTC
                ),
            },
            # What amazon-cognito-js sends for a key removed before it was ever synced.
            {"Op": "remove", "Key": "gone", "Value": "", "SyncCount": 0},
        ],
        token=token,
    )["Records"]
    assert [(r["Key"], r.get("Value"), r["SyncCount"]) for r in written] == [
        ("score", "10", 1),
        ("gone", None, 1),
    ]
    listed = device.list(LastSyncCount=0)
    assert listed["DatasetExists"] is True and listed["DatasetSyncCount"] == 1
    assert {r["Key"]: r.get("Value") for r in listed["Records"]} == {"score": "10", "gone": None}
    # The device's own time comes back to the millisecond.
    score = next(r for r in listed["Records"] if r["Key"] == "score")
    assert score["DeviceLastModifiedDate"] == datetime.datetime(
        2026, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.UTC
    )


def test_every_update_raises_the_count_by_exactly_one(device):
    device.put("a", "1")
    device.update(
        [
            {"Op": "replace", "Key": "a", "Value": "2", "SyncCount": 1},
            {"Op": "replace", "Key": "b", "Value": "x", "SyncCount": 0},
        ]
    )
    third = device.update([{"Op": "remove", "Key": "a", "SyncCount": 2}])["Records"]
    assert [(r["Key"], r["SyncCount"]) for r in third] == [("a", 3)]
    assert device.list()["DatasetSyncCount"] == 3


def test_list_records_returns_exactly_what_changed_after_a_count(device):
    device.put("a", "1")  # count 1
    device.update([{"Op": "replace", "Key": "b", "Value": "2", "SyncCount": 0}])  # count 2
    device.update([{"Op": "remove", "Key": "a", "SyncCount": 1}])  # count 3
    assert [(r["Key"], r.get("Value")) for r in device.list(LastSyncCount=1)["Records"]] == [
        ("b", "2"),
        ("a", None),
    ]
    assert [r["Key"] for r in device.list(LastSyncCount=2)["Records"]] == ["a"]
    assert device.list(LastSyncCount=3)["Records"] == []
    assert device.list(LastSyncCount=3)["DatasetSyncCount"] == 3


def test_a_second_device_sees_changes_on_its_next_pull(device, second_device):
    device.put("colour", "blue")
    pulled = second_device.list(LastSyncCount=0)
    assert [(r["Key"], r["Value"]) for r in pulled["Records"]] == [("colour", "blue")]
    second_device.update(
        [{"Op": "replace", "Key": "colour", "Value": "green", "SyncCount": 1}],
        token=pulled["SyncSessionToken"],
    )
    assert [r["Value"] for r in device.list(LastSyncCount=1)["Records"]] == ["green"]


def test_stale_sync_count_is_refused_and_nothing_is_written(device, second_device):
    device.put("k", "first")
    with pytest.raises(ClientError) as excinfo:
        second_device.update(
            [
                {"Op": "replace", "Key": "other", "Value": "x", "SyncCount": 0},
                {"Op": "replace", "Key": "k", "Value": "second", "SyncCount": 0},
            ]
        )
    assert error_of(excinfo) == (
        "ResourceConflictException",
        "Current SyncCount for: k is: 1 not: 0",
        409,
    )
    after = device.list(LastSyncCount=0)
    assert after["DatasetSyncCount"] == 1
    assert [(r["Key"], r["Value"]) for r in after["Records"]] == [("k", "first")]


def test_a_sync_session_token_is_reusable_but_bound_to_its_dataset(device, stranger):
    token = device.list("notes")["SyncSessionToken"]
    device.update([{"Op": "replace", "Key": "a", "Value": "1", "SyncCount": 0}], token=token)
    device.update([{"Op": "replace", "Key": "a", "Value": "2", "SyncCount": 1}], token=token)
    with pytest.raises(ClientError) as excinfo:
        device.update(
            [{"Op": "replace", "Key": "a", "Value": "1", "SyncCount": 0}],
            dataset="other",
            token=token,
        )
    assert error_of(excinfo) == (
        "InvalidParameterException",
        "SyncSessionToken not valid for these inputs",
        400,
    )
    with pytest.raises(ClientError) as excinfo:
        device.update(
            [{"Op": "replace", "Key": "a", "Value": "1", "SyncCount": 0}], token="made-up"
        )
    assert error_of(excinfo)[0] == "InvalidParameterException"


def test_pages_of_a_listing_are_consistent(device):
    device.update(
        [{"Op": "replace", "Key": f"k{n:03}", "Value": str(n), "SyncCount": 0} for n in range(25)]
    )
    first = device.list(LastSyncCount=0, MaxResults=10)
    assert first["Count"] == 10 and first["NextToken"]
    # A write between pages: its record comes with the next sync, not in these pages.
    device.update([{"Op": "replace", "Key": "k000", "Value": "new", "SyncCount": 1}])
    keys = [r["Key"] for r in first["Records"]]
    token = first["NextToken"]
    while token:
        page = device.list(LastSyncCount=0, MaxResults=10, NextToken=token)
        assert page["DatasetSyncCount"] == 1
        keys += [r["Key"] for r in page["Records"]]
        token = page.get("NextToken")
    assert keys == [f"k{n:03}" for n in range(25)]
    later = device.list(LastSyncCount=1)
    assert [(r["Key"], r["Value"]) for r in later["Records"]] == [("k000", "new")]


def test_next_token_of_another_listing_is_refused(device):
    device.update(
        [{"Op": "replace", "Key": f"k{n}", "Value": "v", "SyncCount": 0} for n in range(3)]
    )
    token = device.list(LastSyncCount=0, MaxResults=1)["NextToken"]
    with pytest.raises(ClientError) as excinfo:
        device.list(LastSyncCount=1, MaxResults=1, NextToken=token)
    assert error_of(excinfo)[0] == "InvalidParameterException"


def test_deleted_dataset_tells_devices_that_synced_it(device, second_device):
    device.put("a", "1")
    device.put("b", "2")
    deleted = device.sync.delete_dataset(
        IdentityPoolId=device.pool_id, IdentityId=device.identity_id, DatasetName="notes"
    )["Dataset"]
    assert deleted["DatasetName"] == "notes" and deleted["NumRecords"] == 2
    gone = second_device.list(LastSyncCount=2)
    assert gone["DatasetExists"] is False
    assert gone["DatasetDeletedAfterRequestedSyncCount"] is True
    assert second_device.list(LastSyncCount=0)["DatasetDeletedAfterRequestedSyncCount"] is False
    # Written again, the dataset continues its count; an old device is still told.
    written = device.put("c", "3")["Records"]
    assert written[0]["SyncCount"] == 3
    again = second_device.list(LastSyncCount=2)
    assert again["DatasetExists"] is True
    assert again["DatasetDeletedAfterRequestedSyncCount"] is True
    assert [(r["Key"], r["Value"]) for r in again["Records"]] == [("c", "3")]
    fresh = second_device.list(LastSyncCount=3)
    assert fresh["DatasetDeletedAfterRequestedSyncCount"] is False


def test_update_errors_name_the_problem(live, anon, device):
    cases = [
        (
            [
                {"Op": "replace", "Key": "a", "Value": "1", "SyncCount": 0},
                {"Op": "remove", "Key": "a", "SyncCount": 0},
            ],
            "patched twice",
        ),
        ([{"Op": "replace", "Key": "has space", "Value": "1", "SyncCount": 0}], "must match"),
        ([{"Op": "replace", "Key": "k" * 129, "Value": "1", "SyncCount": 0}], "128 bytes"),
        ([{"Op": "replace", "Key": "a", "SyncCount": 0}], "has no Value"),
        ([{"Op": "upsert", "Key": "a", "Value": "1", "SyncCount": 0}], "enum value set"),
    ]
    raw = unchecked(live, anon, device)
    for patches, fragment in cases:
        with pytest.raises(ClientError) as excinfo:
            raw.update(patches)
        code, message, status = error_of(excinfo)
        assert (code, status) == ("InvalidParameterException", 400), message
        assert fragment in message
    assert device.list()["DatasetExists"] is False


def unchecked(live, anon, device):
    """Another device of the same identity whose client checks nothing before sending."""
    return new_device(live, anon, device.pool_id, device.identity_id, parameter_validation=False)


def test_bad_dataset_names_and_counts_are_invalid(live, anon, device):
    raw = unchecked(live, anon, device)
    with pytest.raises(ClientError) as excinfo:
        raw.list("bad name!")
    assert error_of(excinfo)[0::2] == ("InvalidParameterException", 400)
    assert "datasetName" in error_of(excinfo)[1]
    with pytest.raises(ClientError) as excinfo:
        raw.list(LastSyncCount=-1)
    assert error_of(excinfo)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        raw.list(MaxResults=5000)
    assert error_of(excinfo)[0] == "InvalidParameterException"


def test_timestamps_travel_as_epoch_numbers(live, device):
    import json
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    device.put("a", "1")
    url = (
        f"{live.endpoint}/identitypools/{device.pool_id.replace(':', '%3A')}/identities/"
        f"{device.identity_id.replace(':', '%3A')}/datasets/notes/records?lastSyncCount=0"
    )
    request = AWSRequest(method="GET", url=url)
    creds = Credentials(
        device.credentials["AccessKeyId"],
        device.credentials["SecretKey"],
        device.credentials["SessionToken"],
    )
    SigV4Auth(creds, "cognito-sync", "us-east-1").add_auth(request)
    raw = urllib.request.Request(url, headers=dict(request.headers.items()))
    with urllib.request.urlopen(raw) as response:
        body = json.load(response)
    record = body["Records"][0]
    assert isinstance(record["LastModifiedDate"], int | float)
    assert isinstance(body["DatasetSyncCount"], int)


def test_limits_give_limit_exceeded(live, anon, guest_pool):
    device = new_device(live, anon, guest_pool["IdentityPoolId"])
    with pytest.raises(ClientError) as excinfo:
        device.update(
            [{"Op": "replace", "Key": f"k{n}", "Value": "v", "SyncCount": 0} for n in range(1025)]
        )
    code, message, status = error_of(excinfo)
    assert (code, status) == ("LimitExceededException", 400)
    assert "1025 records" in message
    with pytest.raises(ClientError) as excinfo:
        device.put("big", "x" * (1024 * 1024 - 1))  # the largest value; with its key, too big
    assert error_of(excinfo)[0] == "LimitExceededException"
    assert "bytes" in error_of(excinfo)[1]
    for n in range(20):
        device.put("k", "v", dataset=f"set{n}")
    with pytest.raises(ClientError) as excinfo:
        device.put("k", "v", dataset="set20")
    assert error_of(excinfo)[0] == "LimitExceededException"
    assert "20 datasets" in error_of(excinfo)[1]
    # Removing keys frees room; tombstones do not count.
    device.sync.delete_dataset(
        IdentityPoolId=device.pool_id, IdentityId=device.identity_id, DatasetName="set0"
    )
    device.put("k", "v", dataset="set20")
