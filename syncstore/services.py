"""Every write to sync state. An update locks its dataset row for its transaction, checks
every patch's sync count, applies all patches or none, and raises the dataset's sync count
by exactly one (reference §2.4)."""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import regex
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from aws.errors import (
    InvalidConfiguration,
    InvalidLambdaFunctionOutput,
    InvalidParameter,
    LimitExceeded,
    ResourceConflict,
    ResourceNotFound,
)
from identity import selectors as identity_selectors
from identity.models import Identity, IdentityPool
from syncstore import events, merge, selectors, sql, streams, triggers, usage
from syncstore.models import (
    BulkPublish,
    Dataset,
    Device,
    JobRun,
    PoolSyncConfig,
    Record,
    Subscription,
)
from syncstore.shapes import record_shape
from syncstore.sql import DatasetState, RecordRow


@dataclass(frozen=True)
class Patch:
    """One RecordPatch: `replace` writes `value`, `remove` leaves a tombstone."""

    key: str
    op: str
    value: str | None
    sync_count: int
    device_modified: datetime | None = None


def device_time(value: float | None) -> datetime | None:
    """A DeviceLastModifiedDate (epoch seconds) kept to the millisecond."""
    if value is None:
        return None
    if not 0 <= value < 32503680000:  # the year 3000
        raise InvalidParameter(f"DeviceLastModifiedDate {value} is not a plausible time.")
    return datetime.fromtimestamp(round(value, 3), UTC)


def record_patches(items: Iterable[dict]) -> list[Patch]:
    """RecordPatch structures as UpdateRecords and the socket's push carry them (each one
    already checked against its shape) as Patches, read in order."""
    return [
        Patch(
            key=item["Key"],
            op=item["Op"],
            value=item.get("Value"),
            sync_count=item["SyncCount"],
            device_modified=device_time(item.get("DeviceLastModifiedDate")),
        )
        for item in items
    ]


class RecordConflict(ResourceConflict):
    """Patches carried stale sync counts; `conflicts` names every such key with the count
    it has now. The message is AWS's, for the first one."""

    def __init__(self, conflicts: list[dict]):
        first = conflicts[0]
        super().__init__(
            f"Current SyncCount for: {first['Key']} is: {first['SyncCount']} not: "
            f"{first['SentSyncCount']}"
        )
        self.conflicts = conflicts


def _refuse_stale(patches: list[Patch], current: dict[str, tuple[int, str | None]]) -> None:
    """Refuse the whole update if any patch does not carry its record's current count."""
    conflicts = [
        {"Key": patch.key, "SyncCount": have, "SentSyncCount": patch.sync_count}
        for patch in patches
        if (have := current.get(patch.key, (0, None))[0]) != patch.sync_count
    ]
    if conflicts:
        raise RecordConflict(conflicts)


def record_size(key: str, value: str | None) -> int:
    """Bytes a record counts towards the dataset limit (tombstones count nothing)."""
    if value is None:
        return 0
    return len(key.encode()) + len(value.encode())


def _check_patches(patches: list[Patch]) -> None:
    seen: set[str] = set()
    key_pattern = regex.compile(settings.SYNC_RECORD_KEY_PATTERN)
    for patch in patches:
        if patch.key in seen:
            raise InvalidParameter(f"Record key '{patch.key}' is patched twice in one request.")
        seen.add(patch.key)
        if len(patch.key.encode()) > settings.SYNC_MAX_KEY_BYTES:
            raise InvalidParameter(
                f"Record key '{patch.key[:40]}...' is longer than "
                f"{settings.SYNC_MAX_KEY_BYTES} bytes."
            )
        if not key_pattern.fullmatch(patch.key):
            raise InvalidParameter(
                f"Record key '{patch.key}' must match {settings.SYNC_RECORD_KEY_PATTERN}."
            )
        if patch.op == "replace" and patch.value is None:
            raise InvalidParameter(f"The replace patch of '{patch.key}' has no Value.")
        if patch.sync_count < 0:
            raise InvalidParameter(f"SyncCount of '{patch.key}' cannot be negative.")


def _live_dataset_count(identity: Identity) -> int:
    return Dataset.objects.filter(identity=identity, deleted__isnull=True).count()


def _dataset_for_update(
    identity: Identity, name: str, *, may_create: bool, merge_root: str | None = None
) -> DatasetState:
    """The dataset's state, its row locked for this transaction; created (or brought back
    after a deletion) when `may_create`, within the limit of datasets per identity. A
    merge's dataset (`merge_root` given) is marked with it and is not held to the limit."""
    state = sql.dataset_state(identity.id, name, lock=True)
    if state is not None and state.exists:
        return state
    if not may_create:
        raise ResourceNotFound(f"Dataset '{name}' of identity '{identity.id}' not found.")
    if merge_root is None:
        # Lock the identity so concurrent creations cannot pass the limit together.
        Identity.objects.select_for_update().filter(pk=identity.pk).first()
        if _live_dataset_count(identity) >= settings.SYNC_MAX_DATASETS_PER_IDENTITY:
            raise LimitExceeded(
                f"Identity '{identity.id}' already has {settings.SYNC_MAX_DATASETS_PER_IDENTITY} "
                "datasets, the most allowed; delete one first."
            )
    now = timezone.now()
    marked = {} if merge_root is None else {"merge_root": merge_root}
    if state is not None:  # a deleted dataset comes back, continuing its sync count
        Dataset.objects.filter(pk=state.id).update(deleted=None, created=now, **marked)
    else:
        try:
            with transaction.atomic():
                Dataset.objects.create(
                    identity=identity, name=name, created=now, modified=now, **marked
                )
        except IntegrityError:
            pass  # created by a concurrent update; the lock below waits for it
    state = sql.dataset_state(identity.id, name, lock=True)
    assert state is not None and state.exists
    return state


@dataclass(frozen=True)
class Update:
    dataset_id: int
    sync_count: int
    records: list[RecordRow]


def records_update(
    *,
    identity: Identity,
    dataset_name: str,
    patches: list[Patch],
    modified_by: str,
    trigger: bool = False,
) -> Update:
    """Apply the patches as one update (UpdateRecords): all or none, each patch carrying the
    record's current sync count (0 for a new key), the dataset's count raised by one. With
    `trigger` (an identity's own update), the pool's Sync Trigger sees the patches first and
    may change them (syncstore/triggers.py); it runs before the dataset is locked, and the
    update is refused as a conflict if the dataset changed meanwhile."""
    _check_patches(patches)
    seen = None
    if trigger and (target := selectors.sync_trigger_target(identity.pool_id)):
        patches, seen = _triggered(target, identity, dataset_name, patches)
    return _records_write(
        identity=identity,
        dataset_name=dataset_name,
        patches=patches,
        modified_by=modified_by,
        expected_sync_count=seen,
    )


@transaction.atomic
def _records_write(
    *,
    identity: Identity,
    dataset_name: str,
    patches: list[Patch],
    modified_by: str,
    expected_sync_count: int | None = None,
    merge_root: str | None = None,
) -> Update:
    """The one write of records, for updates and merges: the dataset's row locked (created
    if needed), the records written at its sync count raised by one, devices and the stream
    told after commit. A merge's write (`merge_root` given: '' for the root dataset, else
    the dataset whose values it keeps) is not checked against the records' counts nor the
    limits: a merge cannot fail for lack of room (DESIGN §3)."""
    merging = merge_root is not None
    dataset = _dataset_for_update(identity, dataset_name, may_create=True, merge_root=merge_root)
    if expected_sync_count is not None and dataset.sync_count != expected_sync_count:
        raise ResourceConflict(
            f"Dataset '{dataset_name}' changed while its SyncTrigger ran (its SyncCount is now "
            f"{dataset.sync_count}, not {expected_sync_count}); list the records and sync again."
        )
    # Read after the lock is held: a query that takes the lock sees the rows it joins as they
    # were when it started, which would let two racing updates both pass the check.
    current = sql.records_current(dataset.id, [patch.key for patch in patches])
    if not merging:
        _refuse_stale(patches, current)

    storage, count = dataset.data_storage, dataset.record_count
    for patch in patches:
        new_value = patch.value if patch.op == "replace" else None
        old_value = current[patch.key][1] if patch.key in current else None
        storage += record_size(patch.key, new_value) - record_size(patch.key, old_value)
        count += (new_value is not None) - (old_value is not None)
    if not merging and count > settings.SYNC_MAX_RECORDS_PER_DATASET:
        raise LimitExceeded(
            f"Dataset '{dataset_name}' would hold {count} records; at most "
            f"{settings.SYNC_MAX_RECORDS_PER_DATASET} are allowed."
        )
    if not merging and storage > settings.SYNC_MAX_DATASET_BYTES:
        raise LimitExceeded(
            f"Dataset '{dataset_name}' would hold {storage} bytes; at most "
            f"{settings.SYNC_MAX_DATASET_BYTES} are allowed."
        )

    now = timezone.now()
    new_count = dataset.sync_count + 1
    written = [
        RecordRow(
            key=patch.key,
            value=patch.value if patch.op == "replace" else None,
            sync_count=new_count,
            modified=now,
            modified_by=modified_by,
            device_modified=patch.device_modified,
        )
        for patch in patches
    ]
    sql.update_write(
        dataset.id,
        written,
        sync_count=new_count,
        modified=now,
        modified_by=modified_by,
        data_storage=storage,
        record_count=count,
    )
    _published(identity, dataset.id, dataset_name, new_count, written)
    return Update(dataset.id, new_count, written)


def _triggered(
    target: str, identity: Identity, name: str, patches: list[Patch]
) -> tuple[list[Patch], int]:
    """The update's patches once the Sync Trigger has had its say, and the dataset's sync
    count the trigger saw. It runs outside any transaction (no lock is held while it takes
    up to SYNC_TRIGGER_TIMEOUT); a stale patch is refused before it is called. What the
    trigger adds is written at the record's count it saw: the update then checks, under the
    lock, that the dataset has not changed since."""
    state = sql.dataset_state(identity.id, name, lock=False)
    dataset_id = state.id if state is not None and state.exists else None
    count = state.sync_count if state is not None else 0
    current = sql.records_current(dataset_id, [p.key for p in patches]) if dataset_id else {}
    _refuse_stale(patches, current)
    live = {key: value for key, value, _ in sql.live_records(dataset_id)} if dataset_id else {}
    patches, extra = triggers.patches_through_trigger(
        target=target,
        pool_id=identity.pool_id,
        identity_id=identity.id,
        dataset_name=name,
        current=live,
        patches=patches,
    )
    counts = sql.records_current(dataset_id, list(extra)) if dataset_id else {}
    for key, value in extra.items():
        have = counts.get(key, (0, None))[0]
        patches.append(Patch(key, "remove" if value is None else "replace", value, have))
    try:
        _check_patches(patches)
    except InvalidParameter as error:
        raise InvalidLambdaFunctionOutput(
            f"The SyncTrigger {target} returned a record Cognate cannot store: {error.message}"
        ) from None
    return patches, count


def _published(
    identity: Identity, dataset_id: int, name: str, sync_count: int, written: list[RecordRow]
) -> None:
    """What every update does once its rows are written: devices hear of it, the pool's
    stream gets it, the day's syncs count it."""
    events.dataset_changed(
        identity_id=identity.id,
        dataset=name,
        sync_count=sync_count,
        records=[record_shape(row) for row in written],
    )
    streams.update_capture(
        pool_id=identity.pool_id,
        identity_id=identity.id,
        dataset_id=dataset_id,
        dataset_name=name,
        sync_count=sync_count,
        records=written,
    )
    transaction.on_commit(lambda: usage.sync_counted(pool_id=identity.pool_id))


# --- Merging identities' data -------------------------------------------------------------------
def _values_write(
    identity: Identity, name: str, values: dict[str, str], *, modified_by: str, merge_root: str
) -> None:
    """Write a merge's values into a dataset as one update (`_records_write`, unchecked)."""
    _records_write(
        identity=identity,
        dataset_name=name,
        patches=[Patch(key, "replace", value, 0) for key, value in values.items()],
        modified_by=modified_by,
        merge_root=merge_root,
    )


def _free_name(taken: dict[str, dict[str, str]], name: str, values: dict[str, str]) -> str:
    """`name`, or `name.2`, `name.3`…: the first dataset where none of `values` would
    overwrite a different value already kept there."""
    candidate, number = name, 1
    while any(taken.get(candidate, {}).get(key, value) != value for key, value in values.items()):
        number += 1
        candidate = f"{name[: merge.MAX_NAME - 1 - len(str(number))]}.{number}"
    return candidate


@dataclass(frozen=True)
class DatasetMerge:
    """What a merge did to one dataset of the merged identity."""

    dataset: str
    added: int
    kept: dict[str, int]

    def as_dict(self) -> dict:
        return {"dataset": self.dataset, "added": self.added, "kept": self.kept}


@transaction.atomic
def datasets_merge(*, merged: Identity, survivor: Identity, policy: str) -> list[DatasetMerge]:
    """Carry the merged identity's datasets over to the survivor under the pool's merge
    policy (syncstore/merge.py). Every value of both stays reachable; the survivor's sync
    counts only grow; the merged identity's own rows are left as they were."""
    survivor_sets = {
        d.name: d for d in Dataset.objects.filter(identity=survivor, deleted__isnull=True)
    }
    summary = []
    times = policy in ("newest", "custom")  # only these compare when values were written
    for source in Dataset.objects.filter(identity=merged, deleted__isnull=True).order_by("name"):
        theirs = {
            key: merge.Value(value, written)
            for key, value, written in sql.live_records(source.id, times=times)
        }
        target = survivor_sets.get(source.name)
        ours = None
        if target is not None:
            ours = {
                key: merge.Value(value, written)
                for key, value, written in sql.live_records(target.id, times=times)
            }
        plan = merge.plan_dataset(
            source.name, ours, theirs, policy=policy, survivor_id=survivor.id, merged_id=merged.id
        )
        by = f"merge:{merged.id}"
        if plan.root:
            _values_write(
                survivor, source.name, plan.root, modified_by=by, merge_root=source.merge_root
            )
        kept_counts = {}
        for name, values in plan.kept.items():
            existing = survivor_sets.get(name)
            taken = {}
            if existing is not None:
                taken[name] = {key: value for key, value, _ in sql.live_records(existing.id)}
            where = _free_name(taken, name, values)
            _values_write(survivor, where, values, modified_by=by, merge_root=source.name)
            kept_counts[where] = len(values)
        summary.append(DatasetMerge(source.name, len(plan.root), kept_counts))
    return summary


@transaction.atomic
def merged_dataset_accept(*, identity: Identity, dataset_name: str, keys: list[str] | None = None):
    """Take values kept by a merge (all, or `keys`) into the root dataset, overwriting what
    it holds, and delete the merged dataset once nothing is left in it."""
    dataset = Dataset.objects.select_for_update().get(
        identity=identity, name=dataset_name, deleted__isnull=True
    )
    if not dataset.merge_root:
        raise InvalidParameter(f"Dataset '{dataset_name}' was not made by a merge.")
    values = {
        key: value for key, value, _ in sql.live_records(dataset.pk) if keys is None or key in keys
    }
    if values:
        _values_write(
            identity, dataset.merge_root, values, modified_by="merge-accepted", merge_root=""
        )
    remaining = [key for key, _, _ in sql.live_records(dataset.pk) if key not in values]
    if not remaining:
        dataset_delete(identity=identity, dataset_name=dataset_name)
    else:
        _remove_keys(identity, dataset_name, list(values))


def _remove_keys(identity: Identity, dataset_name: str, keys: list[str]) -> None:
    state = sql.dataset_state(identity.id, dataset_name, lock=True)
    assert state is not None
    current = sql.records_current(state.id, keys)
    records_update(
        identity=identity,
        dataset_name=dataset_name,
        patches=[Patch(key, "remove", None, current[key][0]) for key in keys if key in current],
        modified_by="merge-accepted",
    )


@transaction.atomic
def dataset_delete(*, identity: Identity, dataset_name: str) -> Dataset:
    """Delete a dataset's records. The row stays, marked deleted with its sync count, so
    devices that synced it learn of the deletion (DatasetDeletedAfterRequestedSyncCount)."""
    state = _dataset_for_update(identity, dataset_name, may_create=False)
    dataset = Dataset.objects.get(pk=state.id)
    before = Dataset(
        pk=dataset.pk,
        identity=identity,
        name=dataset.name,
        created=dataset.created,
        modified=dataset.modified,
        last_modified_by=dataset.last_modified_by,
        data_storage=dataset.data_storage,
        record_count=dataset.record_count,
        sync_count=dataset.sync_count,
    )
    Record.objects.filter(dataset=dataset).delete()
    dataset.deleted = timezone.now()
    dataset.deleted_at_count = dataset.sync_count
    dataset.data_storage = 0
    dataset.record_count = 0
    dataset.save(update_fields=["deleted", "deleted_at_count", "data_storage", "record_count"])
    events.dataset_deleted(
        identity_id=identity.id, dataset=dataset_name, sync_count=dataset.sync_count
    )
    streams.update_capture(
        pool_id=identity.pool_id,
        identity_id=identity.id,
        dataset_id=dataset.pk,
        dataset_name=dataset_name,
        sync_count=dataset.sync_count,
        records=[],
        operation="remove",
    )
    return before


# --- Retention --------------------------------------------------------------------------------
def merged_datasets_expire(*, now: datetime) -> dict:
    """Delete the datasets a merge made to keep values that met other values (name.2...),
    in each pool with a merged-data retention, once unwritten for that many days. Each
    deletion is an ordinary one: devices hear of it, and its tombstone row stays."""
    deleted = 0
    for pool in IdentityPool.objects.filter(merged_data_retention_days__isnull=False):
        cutoff = now - timedelta(days=pool.merged_data_retention_days or 0)
        stale = (
            Dataset.objects.filter(identity__pool=pool, deleted__isnull=True, modified__lt=cutoff)
            .exclude(merge_root="")
            .select_related("identity")
        )
        for dataset in stale.iterator():
            dataset_delete(identity=dataset.identity, dataset_name=dataset.name)
            deleted += 1
    return {"merged_datasets_deleted": deleted}


def job_reports_prune(*, now: datetime, keep_days: int) -> dict:
    """Delete job reports and finished bulk publishes older than `keep_days` (the latest
    bulk publish of each pool stays: GetBulkPublishDetails reports it)."""
    cutoff = now - timedelta(days=keep_days)
    reports = JobRun.objects.filter(started__lt=cutoff, finished__isnull=False).delete()[0]
    latest = BulkPublish.objects.order_by("pool_id", "-requested").distinct("pool_id")
    if connection.vendor != "postgresql":  # DISTINCT ON is PostgreSQL's
        latest = BulkPublish.objects.filter(
            pk__in=BulkPublish.objects.values("pool_id").annotate(newest=Max("pk")).values("newest")
        )
    publishes = (
        BulkPublish.objects.filter(requested__lt=cutoff)
        .exclude(pk__in=[job.pk for job in latest])
        .exclude(status__in=[BulkPublish.Status.NOT_STARTED, BulkPublish.Status.IN_PROGRESS])
        .delete()[0]
    )
    return {"job_reports_deleted": reports, "bulk_publishes_deleted": publishes}


# --- Pool configuration, devices, subscriptions -----------------------------------------------
def _config_for_update(pool_id: str) -> PoolSyncConfig:
    config, _ = PoolSyncConfig.objects.select_for_update().get_or_create(pool_id=pool_id)
    return config


@transaction.atomic
def sync_config_set(
    *, pool_id: str, push_sync: dict | None = None, cognito_streams: dict | None = None
) -> PoolSyncConfig:
    """Set the push sync and Cognito Streams configuration (given parts only). Turning
    streaming off drops the records not yet delivered (docs/streams.md)."""
    if cognito_streams is not None:
        cognito_streams = streams.streams_config_checked(cognito_streams)
    config = _config_for_update(pool_id)
    if push_sync is not None:
        config.push_sync = push_sync
    if cognito_streams is not None:
        config.cognito_streams = cognito_streams
        if cognito_streams["StreamingStatus"] == "DISABLED":
            streams.pending_drop(pool_id=pool_id)
    config.modified = timezone.now()
    config.save()
    selectors.sync_config_forget(pool_id)
    transaction.on_commit(identity_selectors.config_changed)
    return config


SUPPORTED_EVENTS = ("SyncTrigger",)


@transaction.atomic
def events_set(*, pool_id: str, events: dict[str, str]) -> PoolSyncConfig:
    """Set Cognito Events: each given event type to its target; an empty target removes it."""
    unknown = set(events) - set(SUPPORTED_EVENTS)
    if unknown:
        raise InvalidParameter(
            f"Unknown Cognito event type {sorted(unknown)[0]!r}; the only type is SyncTrigger."
        )
    for target in events.values():
        if target:
            triggers.target_check(target)
    config = _config_for_update(pool_id)
    merged = {**config.events, **events}
    config.events = {kind: target for kind, target in merged.items() if target}
    config.modified = timezone.now()
    config.save(update_fields=["events", "modified"])
    selectors.sync_config_forget(pool_id)
    transaction.on_commit(identity_selectors.config_changed)
    return config


@transaction.atomic
def device_register(*, identity: Identity, platform: str, token: str) -> Device:
    """Register a device for push; the same token registers the same device again."""
    config = PoolSyncConfig.objects.filter(pool_id=identity.pool_id).first()
    if config is None or not config.push_sync.get("ApplicationArns"):
        raise InvalidConfiguration(
            "Push sync is not configured for this identity pool: set PushSync with "
            "SetIdentityPoolConfiguration first."
        )
    device = Device.objects.filter(identity=identity, platform=platform, token=token).first()
    if device is None:
        device = Device.objects.create(
            identity=identity, platform=platform, token=token, device_id=str(uuid.uuid4())
        )
    return device


def _device(identity: Identity, device_id: str) -> Device:
    device = Device.objects.filter(identity=identity, device_id=device_id).first()
    if device is None:
        raise ResourceNotFound(f"Device '{device_id}' not found for this identity.")
    return device


@transaction.atomic
def subscription_add(*, identity: Identity, device_id: str, dataset_name: str) -> None:
    Subscription.objects.get_or_create(
        device=_device(identity, device_id), dataset_name=dataset_name
    )


@transaction.atomic
def subscription_remove(*, identity: Identity, device_id: str, dataset_name: str) -> None:
    Subscription.objects.filter(
        device=_device(identity, device_id), dataset_name=dataset_name
    ).delete()
