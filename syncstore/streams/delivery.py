"""Delivery of stream records: captured inside the update's transaction into the outbox
(StreamRecord), sent to Kinesis by a task queued after commit, in order per dataset, and
sent again by the streams-redeliver sweep when that task was lost or keeps failing."""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django.core.cache import cache
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from syncstore import selectors, tasks
from syncstore.models import StreamRecord
from syncstore.sql import RecordRow
from syncstore.streams import bulk
from syncstore.streams.config import enabled_stream, streaming_stop, streaming_target
from syncstore.streams.kinesis import error_code, error_description, kinesis_client
from syncstore.streams.payloads import partition_key, payload_parts, sync_payload

logger = logging.getLogger(__name__)

# Rows still pending after this long were missed by their task (lost, broker down, failing).
REDELIVER_AFTER = timedelta(seconds=30)
ROWS_PER_TRANSACTION = 100


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
    if enabled_stream(selectors.sync_config_view(pool_id).cognito_streams) is None:
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
    try:
        if not cache.add(_queued_key(dataset_id), 1, QUEUED_FOR):
            return
        tasks.stream_deliver.delay(dataset_id)
    except Exception:  # the row waits for the streams-redeliver sweep
        logger.exception("could not queue the stream delivery of dataset %s", dataset_id)


def delivery_started(dataset_id: int) -> None:
    """A delivery task starts: updates from now on queue another one."""
    cache.delete(_queued_key(dataset_id))


def delivery_deferred(dataset_id: int, seconds: float) -> None:
    """A delivery failed and is tried again in `seconds`: updates meanwhile ride with it."""
    cache.set(_queued_key(dataset_id), 1, max(1, int(seconds)))


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
                    if error_code(error) == "ResourceNotFoundException":
                        stream_gone = (pool_id, stream, error_description(error))
                    else:
                        outcome.failed, outcome.error = True, error_description(error)
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
    report.bulk_publishes_queued = bulk.bulk_publishes_requeue(now=now)
    return report.as_dict()
