"""Cognito Streams: every successful update of a dataset published to the pool's Kinesis
stream (reference §3.10), through an outbox written in the update's transaction; and
BulkPublish, which republishes every dataset of a pool. docs/streams.md explains both."""

import json
import logging
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from aws.errors import (
    AlreadyStreamed,
    DuplicateRequest,
    InvalidConfiguration,
    InvalidParameter,
)
from config.celery import enqueue_after_commit
from identity import selectors as identity_selectors
from identity.models import Identity
from syncstore import selectors
from syncstore.models import BulkPublish, Dataset, PoolSyncConfig, Record, StreamRecord
from syncstore.sql import RecordRow

logger = logging.getLogger(__name__)

# Kinesis takes at most 1 MiB of data and partition key per record; larger payloads are sent
# in parts (docs/streams.md). The margin leaves room for the partition key and the part fields.
MAX_PAYLOAD_BYTES = 1_000_000
# PutRecords takes at most 500 records and 5 MiB per call.
BATCH_RECORDS = 500
BATCH_BYTES = 5 * 1024 * 1024
# Rows still pending after this long were missed by their task (lost, broker down, failing).
REDELIVER_AFTER = timedelta(seconds=30)
# A bulk publish still NOT_STARTED after this long lost its task and is queued again.
BULK_REQUEUE_AFTER = timedelta(minutes=5)
BULK_ATTEMPTS = 8
BULK_IDENTITIES_PER_READ = 500
# PutRecords calls in flight while the next datasets are read. One: moto's Kinesis server
# (the tests' and benchmarks') loses records under concurrent writes to a shard.
BULK_IN_FLIGHT = 1
ROWS_PER_TRANSACTION = 100

STREAM_NAME = re.compile(r"[a-zA-Z0-9_.-]{1,128}")
ROLE_ARN = re.compile(r"arn:aws:iam::\d+:role/.*")
CONFIG_TABLE = PoolSyncConfig._meta.db_table


# --- Configuration ----------------------------------------------------------------------------
def streams_config_checked(streams: dict) -> dict:
    """A CognitoStreams structure as it will be kept (StreamingStatus defaults to ENABLED),
    or InvalidParameter saying what to fix."""
    streams = {"StreamingStatus": "ENABLED", **streams}
    status = streams["StreamingStatus"]
    if status not in ("ENABLED", "DISABLED"):
        raise InvalidParameter(
            f"CognitoStreams.StreamingStatus must be ENABLED or DISABLED, not '{status}'."
        )
    name = streams.get("StreamName")
    if name is None and status == "ENABLED":
        raise InvalidParameter(
            "CognitoStreams.StreamName is needed to enable streaming: name the Kinesis stream "
            "that should receive the pool's updates."
        )
    if name is not None and not STREAM_NAME.fullmatch(name):
        raise InvalidParameter(
            f"CognitoStreams.StreamName '{name[:140]}' is not a Kinesis stream name: 1 to 128 "
            "letters, digits, '_', '.' or '-'."
        )
    role = streams.get("RoleArn")
    if role is not None and not (20 <= len(role) <= 2048 and ROLE_ARN.fullmatch(role)):
        raise InvalidParameter(
            f"CognitoStreams.RoleArn '{role[:100]}' is not an IAM role ARN "
            "(arn:aws:iam::<account>:role/<name>, 20 to 2048 characters)."
        )
    return streams


def _enabled_stream(streams: dict) -> str | None:
    if streams.get("StreamingStatus") == "ENABLED" and streams.get("StreamName"):
        return streams["StreamName"]
    return None


def streaming_target(pool_id: str) -> str | None:
    """The stream that receives the pool's updates, None when streaming is off, as the
    database has it now (delivery and bulk publish ask; updates use the copy in memory)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT cognito_streams FROM {CONFIG_TABLE} WHERE pool_id = %s",  # noqa: S608
            [pool_id],
        )
        row = cursor.fetchone()
    if row is None or not row[0]:
        return None
    streams = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    return _enabled_stream(streams)


def pending_drop(*, pool_id: str) -> int:
    """Forget the pool's undelivered stream records (streaming was turned off)."""
    dropped, _ = StreamRecord.objects.filter(pool_id=pool_id).delete()
    return dropped


@transaction.atomic
def streaming_stop(*, pool_id: str, stream_name: str, reason: str) -> int:
    """Turn streaming off because the stream cannot take records any more (as AWS does when
    the stream is deleted), if the pool still streams to it; drop what was pending."""
    config = PoolSyncConfig.objects.select_for_update().filter(pool_id=pool_id).first()
    if config is None or _enabled_stream(config.cognito_streams) != stream_name:
        return 0
    config.cognito_streams = {**config.cognito_streams, "StreamingStatus": "DISABLED"}
    config.modified = timezone.now()
    config.save(update_fields=["cognito_streams", "modified"])
    selectors.sync_config_forget(pool_id)
    transaction.on_commit(identity_selectors.config_changed)
    dropped = pending_drop(pool_id=pool_id)
    logger.warning(
        "Cognito Streams of pool %s disabled: stream %r %s; %d pending records dropped",
        pool_id,
        stream_name,
        reason,
        dropped,
    )
    return dropped


# --- Payloads ---------------------------------------------------------------------------------
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


# --- Capture (inside the update's transaction) --------------------------------------------------
def update_capture(
    *,
    pool_id: str,
    identity_id: str,
    dataset_id: int,
    dataset_name: str,
    sync_count: int,
    records: list[RecordRow],
    operation: str = "replace",
) -> None:
    """Called by every service that raises a dataset's sync count (and by deletion), inside
    its transaction: when the pool streams, the update joins the outbox and its delivery is
    queued after commit. When it does not, this costs no query: the pool's configuration
    is kept in memory (another process's change is seen within a second; delivery checks
    the database again)."""
    if _enabled_stream(selectors.sync_config_view(pool_id).cognito_streams) is None:
        return
    modified = max((row.modified for row in records), default=None) or timezone.now()
    StreamRecord.objects.create(
        pool_id=pool_id,
        dataset_id=dataset_id,
        sync_count=sync_count,
        payload=sync_payload(
            pool_id=pool_id,
            identity_id=identity_id,
            dataset_name=dataset_name,
            sync_count=sync_count,
            modified=modified,
            records=records,
            operation=operation,
        ),
    )
    transaction.on_commit(lambda: delivery_queue(dataset_id))


# One delivery task per dataset is queued at a time: while one waits (or backs off after a
# failure) the updates that follow ride with it instead of queueing their own.
QUEUED_FOR = 300


def _queued_key(dataset_id: int) -> str:
    return f"stream-delivery-queued:{dataset_id}"


def delivery_queue(dataset_id: int) -> None:
    """Queue the dataset's delivery unless a task for it is already waiting (after commit:
    a task that starts after this sees the update's row)."""
    from syncstore.tasks import stream_deliver  # tasks import this module

    try:
        if not cache.add(_queued_key(dataset_id), 1, QUEUED_FOR):
            return
        stream_deliver.delay(dataset_id)
    except Exception:  # the row waits for the streams-redeliver sweep
        logger.exception("could not queue the stream delivery of dataset %s", dataset_id)


def delivery_started(dataset_id: int) -> None:
    """A delivery task starts: updates from now on queue another one."""
    cache.delete(_queued_key(dataset_id))


def delivery_deferred(dataset_id: int, seconds: float) -> None:
    """A delivery failed and is tried again in `seconds`: updates meanwhile ride with it."""
    cache.set(_queued_key(dataset_id), 1, max(1, int(seconds)))


# --- Kinesis ----------------------------------------------------------------------------------
_clients: dict[tuple[str, bool], Any] = {}
_clients_lock = threading.Lock()


def kinesis_client(pool_id: str, *, quick: bool = False):
    """A Kinesis client in the pool's region (the part of its id before ':'), with
    Cognate's own AWS credentials and COGNATE_KINESIS_ENDPOINT_URL. Clients are shared.
    A `quick` one (deliveries run inline, in a request's process) tries once, briefly:
    an unreachable stream must not hold up the request; the sweep tries again."""
    region = pool_id.split(":", 1)[0]
    with _clients_lock:
        if (region, quick) not in _clients:
            _clients[region, quick] = boto3.session.Session().client(
                "kinesis",
                endpoint_url=settings.COGNATE_KINESIS_ENDPOINT_URL,
                region_name=region,
                config=Config(
                    connect_timeout=2 if quick else 5,
                    read_timeout=5 if quick else 20,
                    retries={"max_attempts": 1 if quick else 3, "mode": "standard"},
                ),
            )
        return _clients[region, quick]


def _error_code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code", "")
    return ""


def _describe(error: Exception) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code')}: {details.get('Message')}"[:2000]
    return f"{type(error).__name__}: {error}"[:2000]


# --- Delivery ---------------------------------------------------------------------------------
@dataclass
class Delivery:
    """What one delivery of a dataset's pending records did."""

    delivered: int = 0
    dropped: int = 0
    failed: bool = False
    error: str = ""


def dataset_deliver(*, dataset_id: int, quick: bool = False) -> Delivery:
    """Send the dataset's pending stream records to Kinesis, oldest first, each after the one
    before (SequenceNumberForOrdering), deleting them once sent. A failure stops at that
    record and notes it there; the caller retries later."""
    outcome = Delivery()
    while True:
        stream_gone: tuple[str, str, str] | None = None
        with transaction.atomic():
            # Rows are locked, not skipped: a second worker on this dataset waits here and
            # then finds only later rows, so per-dataset order holds with any number of
            # workers. (SQLite has no row locks; its IMMEDIATE transactions queue instead.)
            pending = list(
                StreamRecord.objects.select_for_update()
                .filter(dataset_id=dataset_id)
                .order_by("id")[:ROWS_PER_TRANSACTION]
            )
            if not pending:
                return outcome
            pool_id = pending[0].pool_id
            stream = streaming_target(pool_id)
            if stream is None:  # turned off after these were captured
                outcome.dropped += StreamRecord.objects.filter(
                    id__in=[row.id for row in pending]
                ).delete()[0]
                continue
            client = kinesis_client(pool_id, quick=quick)
            sent: list[int] = []
            previous: str | None = None
            for row in pending:
                try:
                    for data in payload_parts(row.payload):
                        extra = {"SequenceNumberForOrdering": previous} if previous else {}
                        previous = client.put_record(
                            StreamName=stream,
                            Data=data,
                            PartitionKey=partition_key(row.payload),
                            **extra,
                        )["SequenceNumber"]
                except (ClientError, BotoCoreError) as error:
                    if _error_code(error) == "ResourceNotFoundException":
                        stream_gone = (pool_id, stream, _describe(error))
                    else:
                        outcome.failed, outcome.error = True, _describe(error)
                        row.attempts += 1
                        row.last_error = outcome.error
                        row.save(update_fields=["attempts", "last_error"])
                        logger.warning(
                            "stream record %s of dataset %s not delivered (attempt %d): %s",
                            row.id,
                            dataset_id,
                            row.attempts,
                            outcome.error,
                        )
                    break
                sent.append(row.id)
            StreamRecord.objects.filter(id__in=sent).delete()
            outcome.delivered += len(sent)
        if stream_gone is not None:
            pool_id, stream, why = stream_gone
            outcome.dropped += streaming_stop(
                pool_id=pool_id, stream_name=stream, reason=f"is gone ({why})"
            )
            return outcome
        if outcome.failed or len(pending) < ROWS_PER_TRANSACTION:
            return outcome


@dataclass
class Redelivery:
    datasets: int = 0
    delivered: int = 0
    dropped: int = 0
    failed: int = 0
    deferred: int = 0
    bulk_publishes_queued: int = 0

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def pending_redeliver(*, now: datetime, budget: float = 45.0) -> dict:
    """Deliver the datasets whose stream records have waited longer than REDELIVER_AFTER
    (their task was lost or is backing off), oldest first, for at most `budget` seconds.
    A pool whose stream fails is not tried again in the same run. Also queue again the
    bulk publishes whose task was lost."""
    report = Redelivery()
    started = time.monotonic()
    waiting = (
        StreamRecord.objects.filter(created__lt=now - REDELIVER_AFTER)
        .values("dataset_id", "pool_id")
        .annotate(oldest=Min("id"))
        .order_by("oldest")
    )
    failing: set[str] = set()
    for row in waiting.iterator():
        if row["pool_id"] in failing or time.monotonic() - started > budget:
            report.deferred += 1
            continue
        report.datasets += 1
        outcome = dataset_deliver(dataset_id=row["dataset_id"])
        report.delivered += outcome.delivered
        report.dropped += outcome.dropped
        if outcome.failed:
            report.failed += 1
            failing.add(row["pool_id"])
    lost = BulkPublish.objects.filter(
        status__in=ACTIVE, requested__lt=now - BULK_REQUEUE_AFTER
    ).values_list("id", flat=True)
    from syncstore.tasks import bulk_publish_run

    for job_id in lost:
        # Not while a worker runs it, and once per BULK_REQUEUE_AFTER while it waits in a
        # backlogged queue.
        if cache.get(_bulk_lease_key(job_id)) is not None:
            continue
        if not cache.add(_bulk_queued_key(job_id), 1, int(BULK_REQUEUE_AFTER.total_seconds())):
            continue
        enqueue_after_commit(bulk_publish_run, job_id)
        report.bulk_publishes_queued += 1
    return report.as_dict()


# --- BulkPublish ------------------------------------------------------------------------------
BULK_WINDOW = timedelta(hours=24)
ACTIVE = (BulkPublish.Status.NOT_STARTED, BulkPublish.Status.IN_PROGRESS)
FINISHED = (BulkPublish.Status.SUCCEEDED, BulkPublish.Status.FAILED)


@transaction.atomic
def bulk_publish_request(*, pool_id: str) -> BulkPublish:
    """Ask for every dataset of the pool to be republished to its stream (BulkPublish):
    one at a time, and one success per 24 hours. The job runs in a worker."""
    config = PoolSyncConfig.objects.select_for_update().filter(pool_id=pool_id).first()
    if config is None or not config.cognito_streams:
        raise InvalidConfiguration(
            f"Cognito Streams is not configured for identity pool '{pool_id}': set "
            "CognitoStreams with SetIdentityPoolConfiguration first."
        )
    if _enabled_stream(config.cognito_streams) is None:
        raise InvalidConfiguration(
            f"StreamingStatus is DISABLED for identity pool '{pool_id}'. Bulk publish will "
            "also fail if StreamingStatus is DISABLED: enable it with "
            "SetIdentityPoolConfiguration first."
        )
    jobs = BulkPublish.objects.filter(pool_id=pool_id)
    if jobs.filter(status__in=ACTIVE).exists():
        raise DuplicateRequest(
            f"A bulk publish of identity pool '{pool_id}' is already in progress; "
            "GetBulkPublishDetails tells when it is done."
        )
    now = timezone.now()
    recent = (
        jobs.filter(status=BulkPublish.Status.SUCCEEDED, completed__gt=now - BULK_WINDOW)
        .order_by("-completed")
        .first()
    )
    if recent is not None and recent.completed is not None:
        raise AlreadyStreamed(
            f"Identity pool '{pool_id}' was bulk published at {recent.completed:%Y-%m-%d %H:%M} "
            f"UTC; a pool may be bulk published once every 24 hours."
        )
    job = BulkPublish.objects.create(pool_id=pool_id, requested=now)
    from syncstore.tasks import bulk_publish_run

    enqueue_after_commit(bulk_publish_run, job.pk)
    return job


def bulk_publish_latest(pool_id: str) -> BulkPublish | None:
    """The pool's latest bulk publish (GetBulkPublishDetails), None when never asked for."""
    return BulkPublish.objects.filter(pool_id=pool_id).order_by("-requested", "-id").first()


class BulkFailure(Exception):
    """Why a bulk publish stopped; becomes its FailureMessage."""


@dataclass
class _Batch:
    entries: list[tuple[bytes, str]] = field(default_factory=list)
    size: int = 0

    def fits(self, parts: list[tuple[bytes, str]]) -> bool:
        more = sum(len(data) + len(key.encode()) for data, key in parts)
        return len(self.entries) + len(parts) <= BATCH_RECORDS and self.size + more <= BATCH_BYTES

    def add(self, parts: list[tuple[bytes, str]]) -> None:
        self.entries.extend(parts)
        self.size += sum(len(data) + len(key.encode()) for data, key in parts)


def _put_batch(client, stream: str, entries: list[tuple[bytes, str]]) -> None:
    """PutRecords, sending again the entries Kinesis refused (throttling) with backoff."""
    for attempt in range(BULK_ATTEMPTS):
        response = client.put_records(
            StreamName=stream,
            Records=[{"Data": data, "PartitionKey": key} for data, key in entries],
        )
        if not response.get("FailedRecordCount"):
            return
        refused = [
            (entry, result)
            for entry, result in zip(entries, response["Records"], strict=True)
            if result.get("ErrorCode")
        ]
        entries = [entry for entry, _ in refused]
        last = refused[0][1]
        if attempt + 1 < BULK_ATTEMPTS:
            time.sleep(min(0.1 * 2**attempt, 5.0))
    raise BulkFailure(
        f"Kinesis refused {len(entries)} records {BULK_ATTEMPTS} times; the last error was "
        f"{last.get('ErrorCode')}: {last.get('ErrorMessage')}"
    )


def _live_datasets(pool_id: str) -> Iterator[list[tuple]]:
    """The pool's live datasets in chunks, each as (id, identity id, name, sync count,
    modified, [RecordRow of its live records]). Identities are walked in id order and
    their datasets read by identity: each statement is an index lookup, whatever the
    planner knows of the tables."""
    after = ""
    while True:
        people = list(
            Identity.objects.filter(pool_id=pool_id, id__gt=after)
            .order_by("id")
            .values_list("id", flat=True)[:BULK_IDENTITIES_PER_READ]
        )
        if not people:
            return
        after = people[-1]
        chunk = list(
            Dataset.objects.filter(identity_id__in=people, deleted__isnull=True)
            .order_by("identity_id", "name")
            .values_list("id", "identity_id", "name", "sync_count", "modified")
        )
        records: dict[int, list[RecordRow]] = defaultdict(list)
        rows = (
            Record.objects.filter(dataset_id__in=[row[0] for row in chunk], value__isnull=False)
            .order_by("dataset_id", "key")
            .values_list(
                "dataset_id",
                "key",
                "value",
                "sync_count",
                "modified",
                "modified_by",
                "device_modified",
            )
        )
        for dataset_id, key, value, count, modified, modified_by, device_modified in rows:
            records[dataset_id].append(
                RecordRow(key, value, count, modified, modified_by, device_modified)
            )
        yield [(*row, records.get(row[0], [])) for row in chunk]


def _republish(job: BulkPublish, stream: str, lease: str) -> int:
    """Send every live dataset of the job's pool; the number sent. Up to BULK_IN_FLIGHT
    PutRecords calls run while the next datasets are read (order does not matter here)."""
    client = kinesis_client(job.pool_id)
    batch = _Batch()
    queued = published = 0
    in_flight: deque[tuple[Future, int]] = deque()

    def settle(keep: int) -> None:
        nonlocal published
        while len(in_flight) > keep:
            future, published = in_flight.popleft()
            future.result()  # raises what the batch raised
            BulkPublish.objects.filter(pk=job.pk).update(datasets_published=published)
            cache.touch(lease, BULK_LEASE)

    with ThreadPoolExecutor(max_workers=BULK_IN_FLIGHT) as senders:
        try:
            for chunk in _live_datasets(job.pool_id):
                for _, identity_id, name, sync_count, modified, records in chunk:
                    payload = sync_payload(
                        pool_id=job.pool_id,
                        identity_id=identity_id,
                        dataset_name=name,
                        sync_count=sync_count,
                        modified=modified,
                        records=records,
                    )
                    key = partition_key(payload)
                    parts = [(data, key) for data in payload_parts(payload)]
                    if not batch.fits(parts):
                        settle(BULK_IN_FLIGHT - 1)
                        future = senders.submit(_put_batch, client, stream, batch.entries)
                        in_flight.append((future, queued))
                        batch = _Batch()
                    batch.add(parts)
                    queued += 1
            if batch.entries:
                in_flight.append(
                    (senders.submit(_put_batch, client, stream, batch.entries), queued)
                )
            settle(0)
        finally:
            for future, _ in in_flight:
                future.cancel()
    return published


def _bulk_finish(job_id: int, status: str, message: str = "") -> None:
    BulkPublish.objects.filter(pk=job_id).update(
        status=status, completed=timezone.now(), failure_message=message[:4000]
    )


# A running bulk publish holds a lease in the cache, renewed after every batch: a second
# task for the same job (queued twice, or redelivered by the broker) leaves it alone, and a
# job whose worker died (no lease, still IN_PROGRESS) is started again by the sweep.
BULK_LEASE = 300


def _bulk_lease_key(job_id: int) -> str:
    return f"bulk-publish-running:{job_id}"


def _bulk_queued_key(job_id: int) -> str:
    return f"bulk-publish-queued:{job_id}"


def bulk_publish_run(*, job_id: int) -> BulkPublish | None:
    """Run a bulk publish, unless another worker is running it: every live dataset of the
    pool as one Kinesis record (all its live records, syncCount the dataset's), in
    PutRecords batches. A finished job is left as it is; a job found IN_PROGRESS with no
    lease (its worker was lost) starts again."""
    lease = _bulk_lease_key(job_id)
    if not cache.add(lease, 1, BULK_LEASE):
        return BulkPublish.objects.filter(pk=job_id).first()
    try:
        return _bulk_publish_run(job_id, lease)
    finally:
        cache.delete(lease)


def _bulk_publish_run(job_id: int, lease: str) -> BulkPublish | None:
    with transaction.atomic():
        job = BulkPublish.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status in FINISHED:
            return job
        job.status = BulkPublish.Status.IN_PROGRESS
        job.started = timezone.now()
        job.datasets_published = 0
        job.save(update_fields=["status", "started", "datasets_published"])
    stream = streaming_target(job.pool_id)
    try:
        if stream is None:
            raise BulkFailure(
                "Cognito Streams was turned off (StreamingStatus DISABLED) before the bulk "
                "publish ran; enable it and ask again."
            )
        count = _republish(job, stream, lease)
    except BulkFailure as failure:
        _bulk_finish(job_id, BulkPublish.Status.FAILED, str(failure))
    except (ClientError, BotoCoreError) as error:
        if stream is not None and _error_code(error) == "ResourceNotFoundException":
            streaming_stop(pool_id=job.pool_id, stream_name=stream, reason="is gone")
            message = f"Kinesis stream '{stream}' does not exist; streaming was disabled."
        else:
            message = f"Kinesis did not take the records: {_describe(error)}"
        _bulk_finish(job_id, BulkPublish.Status.FAILED, message)
    except Exception:
        logger.exception("bulk publish %s failed", job_id)
        _bulk_finish(job_id, BulkPublish.Status.FAILED, "Internal error; see the server log.")
    else:
        _bulk_finish(job_id, BulkPublish.Status.SUCCEEDED)
        logger.info("bulk publish %s of %s: %d datasets", job_id, job.pool_id, count)
    job.refresh_from_db()
    return job
