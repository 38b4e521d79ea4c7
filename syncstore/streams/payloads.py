"""The Kinesis record of one update in AWS's Cognito Streams shape (reference §3.10), cut in
parts when it is too large for Kinesis, and its partition key."""

import json
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from syncstore.sql import RecordRow

logger = logging.getLogger(__name__)

# Kinesis takes at most 1 MiB of data and partition key per record; larger payloads are sent
# in parts (docs/streams.md). The margin leaves room for the partition key and the part fields.
MAX_PAYLOAD_BYTES = 1_000_000


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def sync_record(row: RecordRow) -> dict:
    return {
        "key": row.key,
        "value": row.value,
        "syncCount": row.sync_count,
        "lastModifiedDate": _ms(row.modified),
        "deviceLastModifiedDate": _ms(row.device_modified or row.modified),
        "op": "replace" if row.value is not None else "remove",
    }


def sync_payload(
    *,
    pool_id: str,
    identity_id: str,
    dataset_name: str,
    sync_count: int,
    modified: datetime,
    records: Iterable[RecordRow],
    operation: str = "replace",
) -> dict:
    """One Kinesis record of Cognito Streams, in AWS's shape (reference §3.10)."""
    return {
        "identityPoolId": pool_id,
        "identityId": identity_id,
        "dataSetName": dataset_name,
        "operation": operation,
        "kinesisSyncRecords": [sync_record(row) for row in records],
        "lastModifiedDate": _ms(modified),
        "kinesisSyncRecordsURL": None,
        "payloadType": "Inline",
        "syncCount": sync_count,
    }


def _encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def payload_parts(payload: dict, limit: int = MAX_PAYLOAD_BYTES) -> list[bytes]:
    """The payload as Kinesis data: itself when it fits, else parts that each carry a share
    of kinesisSyncRecords and `part`/`parts` (1-based). A single record too large for any
    part goes with its value left out (`value` null, `valueOmitted` true)."""
    whole = _encode(payload)
    if len(whole) <= limit:
        return [whole]
    frame = len(_encode({**payload, "kinesisSyncRecords": [], "part": 99999, "parts": 99999}))
    groups: list[list[dict]] = [[]]
    size = frame
    for record in payload["kinesisSyncRecords"]:
        length = len(_encode(record)) + 1
        if frame + length > limit:
            logger.warning(
                "stream record of %s/%s: value of %r left out (too large for Kinesis)",
                payload["identityId"],
                payload["dataSetName"],
                record["key"],
            )
            record = {**record, "value": None, "valueOmitted": True}
            length = len(_encode(record)) + 1
        if groups[-1] and size + length > limit:
            groups.append([])
            size = frame
        groups[-1].append(record)
        size += length
    return [
        _encode({**payload, "kinesisSyncRecords": group, "part": number, "parts": len(groups)})
        for number, group in enumerate(groups, start=1)
    ]


def partition_key(payload: dict) -> str:
    """One partition key per dataset: Kinesis keeps the order of records of one key."""
    return f"{payload['identityId']}/{payload['dataSetName']}"
