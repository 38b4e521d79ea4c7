"""BulkPublish: every live dataset of a pool republished to its stream, by a job that runs
in a worker, at most once a day per pool (reference §3.10, docs/streams.md)."""

import logging
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from aws.errors import AlreadyStreamed, DuplicateRequest, InvalidConfiguration
from identity.models import Identity
from syncstore import tasks
from syncstore.jobs import enqueue_after_commit
from syncstore.models import BulkPublish, Dataset, PoolSyncConfig, Record
from syncstore.sql import RecordRow
from syncstore.streams.config import enabled_stream, streaming_stop, streaming_target
from syncstore.streams.kinesis import error_code, error_description, kinesis_client
from syncstore.streams.payloads import partition_key, payload_parts, sync_payload

logger = logging.getLogger(__name__)

# PutRecords takes at most 500 records and 5 MiB per call.
BATCH_RECORDS = 500
BATCH_BYTES = 5 * 1024 * 1024
# A bulk publish still NOT_STARTED after this long lost its task and is queued again.
BULK_REQUEUE_AFTER = timedelta(minutes=5)
BULK_ATTEMPTS = 8
BULK_IDENTITIES_PER_READ = 500
# PutRecords calls in flight while the next datasets are read. One: moto's Kinesis server
# (the tests' and benchmarks') loses records under concurrent writes to a shard.
BULK_IN_FLIGHT = 1
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
    if enabled_stream(config.cognito_streams) is None:
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
    enqueue_after_commit(tasks.bulk_publish_run, job.pk)
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


def bulk_publishes_requeue(*, now: datetime) -> int:
    """Queue again the bulk publishes whose task was lost (run by the streams-redeliver
    sweep); how many were queued."""
    lost = BulkPublish.objects.filter(
        status__in=ACTIVE, requested__lt=now - BULK_REQUEUE_AFTER
    ).values_list("id", flat=True)
    queued = 0
    for job_id in lost:
        # Not while a worker runs it, and once per BULK_REQUEUE_AFTER while it waits in a
        # backlogged queue.
        if cache.get(_bulk_lease_key(job_id)) is not None:
            continue
        if not cache.add(_bulk_queued_key(job_id), 1, int(BULK_REQUEUE_AFTER.total_seconds())):
            continue
        enqueue_after_commit(tasks.bulk_publish_run, job_id)
        queued += 1
    return queued


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
        if stream is not None and error_code(error) == "ResourceNotFoundException":
            streaming_stop(pool_id=job.pool_id, stream_name=stream, reason="is gone")
            message = f"Kinesis stream '{stream}' does not exist; streaming was disabled."
        else:
            message = f"Kinesis did not take the records: {error_description(error)}"
        _bulk_finish(job_id, BulkPublish.Status.FAILED, message)
    except Exception:
        logger.exception("bulk publish %s failed", job_id)
        _bulk_finish(job_id, BulkPublish.Status.FAILED, "Internal error; see the server log.")
    else:
        _bulk_finish(job_id, BulkPublish.Status.SUCCEEDED)
        logger.info("bulk publish %s of %s: %d datasets", job_id, job.pool_id, count)
    job.refresh_from_db()
    return job
