"""The Cognito Sync structures (Record, Dataset) as JSON, shared by the HTTP API, the
websocket protocol and the change events, so a client parses records one way."""

from typing import Any

from aws.render import epoch


def record_shape(record) -> dict:
    out: dict[str, Any] = {
        "Key": record.key,
        "SyncCount": record.sync_count,
        "LastModifiedDate": epoch(record.modified),
        "LastModifiedBy": record.modified_by,
    }
    if record.value is not None:
        out["Value"] = record.value
    if record.device_modified is not None:
        out["DeviceLastModifiedDate"] = epoch(record.device_modified)
    return out


def dataset_shape(dataset) -> dict:
    return {
        "IdentityId": dataset.identity_id,
        "DatasetName": dataset.name,
        "CreationDate": epoch(dataset.created),
        "LastModifiedDate": epoch(dataset.modified),
        "LastModifiedBy": dataset.last_modified_by,
        "DataStorage": dataset.data_storage,
        "NumRecords": dataset.record_count,
    }
