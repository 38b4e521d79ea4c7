"""Sync state: datasets of key/value records per identity, with sync counts; devices and
their subscriptions; a pool's Sync configuration. Every write goes through
`syncstore.services`."""

from typing import Any, overload

from django.db import models
from django.utils import timezone

from identity.models import Identity, IdentityPool

# PostgreSQL text cannot hold U+0000, which record values may (they are stored and returned
# exactly as sent). So, on every database alike, values are stored with NUL written as
# ESCAPE + "0" and ESCAPE itself (a private-use character) doubled.
ESCAPE = "\ue000"


@overload
def to_stored(value: str) -> str: ...
@overload
def to_stored(value: None) -> None: ...
def to_stored(value: str | None) -> str | None:
    if value is None or ("\x00" not in value and ESCAPE not in value):
        return value
    return value.replace(ESCAPE, ESCAPE * 2).replace("\x00", ESCAPE + "0")


@overload
def from_stored(value: str) -> str: ...
@overload
def from_stored(value: None) -> None: ...
def from_stored(value: str | None) -> str | None:
    if value is None or ESCAPE not in value:
        return value
    out, pieces = [], iter(value.split(ESCAPE))
    out.append(next(pieces))
    for piece in pieces:  # each piece followed an ESCAPE
        if piece.startswith("0"):
            out.append("\x00" + piece[1:])
        elif piece == "":  # a doubled ESCAPE: this piece is empty, the next one follows it
            out.append(ESCAPE + next(pieces, ""))
        else:
            out.append(ESCAPE + piece)  # not written by to_stored; kept as it is
    return "".join(out)


def _stored_json(value: Any, convert) -> Any:
    if isinstance(value, str):
        return convert(value)
    if isinstance(value, dict):
        return {key: _stored_json(item, convert) for key, item in value.items()}
    if isinstance(value, list):
        return [_stored_json(item, convert) for item in value]
    return value


class RecordValueField(models.TextField):
    """Text stored exactly as sent, NUL included (see ESCAPE)."""

    def get_prep_value(self, value):
        return to_stored(super().get_prep_value(value))

    def from_db_value(self, value, expression, connection):
        return from_stored(value)


class RecordJSONField(models.JSONField):
    """JSON holding record values: its strings are stored as RecordValueField stores text
    (PostgreSQL's jsonb refuses \\u0000)."""

    def get_prep_value(self, value):
        return super().get_prep_value(_stored_json(value, to_stored))

    def from_db_value(self, value, expression, connection):
        return _stored_json(super().from_db_value(value, expression, connection), from_stored)


class Dataset(models.Model):
    """A named set of records of one identity. Its sync count rises by exactly one per
    successful update; a deleted dataset keeps its row (and count), so a later incarnation
    continues the count and devices that synced the old one can be told."""

    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=128)
    merge_root = models.CharField(
        max_length=128,
        blank=True,
        default="",
        help_text="For a dataset made by a merge to keep values that met other values: the "
        "dataset it belongs to (ListRecords of that one names it in MergedDatasetNames).",
    )
    sync_count = models.BigIntegerField(default=0)
    created = models.DateTimeField(default=timezone.now)
    modified = models.DateTimeField(default=timezone.now)
    last_modified_by = models.CharField(max_length=256, blank=True, default="")
    data_storage = models.BigIntegerField(
        default=0, help_text="Bytes of the live records (UTF-8 keys and values)."
    )
    record_count = models.IntegerField(default=0, help_text="Live records (not tombstones).")
    deleted = models.DateTimeField(
        null=True, blank=True, help_text="When the dataset was deleted; empty while it exists."
    )
    deleted_at_count = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="The sync count at the latest deletion: devices that synced up to it hold "
        "a deleted incarnation.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["identity", "name"], name="dataset_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.identity_id}/{self.name}"

    @property
    def exists(self) -> bool:
        return self.deleted is None


class Record(models.Model):
    """A key of a dataset: its value (None for a tombstone left by a removal) and the sync
    count of the update that last wrote it."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="records")
    key = models.CharField(max_length=1024)
    value = RecordValueField(null=True, blank=True)  # None marks a tombstone
    sync_count = models.BigIntegerField()
    modified = models.DateTimeField(default=timezone.now)
    modified_by = models.CharField(max_length=256, blank=True, default="")
    device_modified = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset", "key"], name="record_unique_key")]
        indexes = [models.Index(fields=["dataset", "sync_count", "key"])]

    def __str__(self) -> str:
        return self.key

    @property
    def is_tombstone(self) -> bool:
        return self.value is None


class PoolSyncConfig(models.Model):
    """A pool's Cognito Sync configuration: push sync, Cognito Streams and Cognito Events."""

    pool = models.OneToOneField(IdentityPool, on_delete=models.CASCADE, related_name="sync_config")
    push_sync = models.JSONField(default=dict, blank=True)
    cognito_streams = models.JSONField(default=dict, blank=True)
    events = models.JSONField(default=dict, blank=True)
    modified = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Sync configuration of {self.pool_id}"


class Device(models.Model):
    """A device registered for push notifications of an identity."""

    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="devices")
    device_id = models.CharField(max_length=256, unique=True)
    platform = models.CharField(max_length=16)
    token = models.CharField(max_length=4096)
    created = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.device_id


class Subscription(models.Model):
    """A device's subscription to changes of one dataset (by name)."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="subscriptions")
    dataset_name = models.CharField(max_length=128)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "dataset_name"], name="subscription_once")
        ]

    def __str__(self) -> str:
        return f"{self.device_id} → {self.dataset_name}"


class PoolUsage(IdentityPool):
    """Identity pools seen by their sync usage (an admin view; no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = "pool usage"
        verbose_name_plural = "pool usage"


class StreamRecord(models.Model):
    """One update of a dataset waiting to be published to its pool's Kinesis stream. Written
    in the transaction of the update (an outbox: nothing is lost if a worker or the stream is
    down) and deleted once delivered; delivered in sync-count order per dataset."""

    pool = models.ForeignKey(IdentityPool, on_delete=models.CASCADE, related_name="+")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="+")
    sync_count = models.BigIntegerField()
    payload = RecordJSONField()
    created = models.DateTimeField(default=timezone.now)
    attempts = models.IntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["dataset", "id"]), models.Index(fields=["created"])]

    def __str__(self) -> str:
        return f"{self.dataset_id}@{self.sync_count}"


class BulkPublish(models.Model):
    """A BulkPublish of a pool: every dataset republished to its stream by a Celery job."""

    class Status(models.TextChoices):
        NOT_STARTED = "NOT_STARTED"
        IN_PROGRESS = "IN_PROGRESS"
        FAILED = "FAILED"
        SUCCEEDED = "SUCCEEDED"

    pool = models.ForeignKey(IdentityPool, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NOT_STARTED)
    requested = models.DateTimeField(default=timezone.now)
    started = models.DateTimeField(null=True, blank=True)
    completed = models.DateTimeField(null=True, blank=True)
    failure_message = models.TextField(blank=True, default="")
    datasets_published = models.IntegerField(default=0)

    class Meta:
        verbose_name = "bulk publish"
        verbose_name_plural = "bulk publishes"
        indexes = [models.Index(fields=["pool", "-requested"])]

    def __str__(self) -> str:
        return f"Bulk publish of {self.pool_id} ({self.status})"


class DailyUsage(models.Model):
    """Successful updates (syncs) of a pool per day, for the operator's dashboard. Counted in
    the cache as they happen and added here by a periodic job."""

    pool = models.ForeignKey(IdentityPool, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    syncs = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pool", "day"], name="daily_usage_once")]

    def __str__(self) -> str:
        return f"{self.pool_id} {self.day}: {self.syncs}"


class JobRun(models.Model):
    """What a background job did: its name, when it ran, its report (or its error)."""

    name = models.CharField(max_length=64)
    started = models.DateTimeField(default=timezone.now)
    finished = models.DateTimeField(null=True, blank=True)
    report = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started"]
        indexes = [models.Index(fields=["name", "-started"])]

    def __str__(self) -> str:
        return f"{self.name} at {self.started:%Y-%m-%d %H:%M}"
