"""Reads for the operator (selectors): the figures of a pool's dashboard, the identities that
hold one person's data, and the export of an identity's data as JSON-able dicts. The admin
and the `export_identity` / `erase_identity` commands use these."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, F, Max, Q, Sum
from django.utils import timezone

from aws.errors import ResourceNotFound
from identity.models import Identity, IdentityPool, Login, Merge
from syncstore import usage
from syncstore.models import Dataset, Device, JobRun, Record

DASHBOARD_DAYS = 30


# --- The pool's dashboard ------------------------------------------------------------------------
@dataclass(frozen=True)
class PoolDashboard:
    pool: IdentityPool
    identities: dict[str, int]  # guest, authenticated, disabled, merged, total
    datasets: dict[str, int]  # live, removed, kept_by_merges, live_records, storage, with_data
    syncs: list[tuple[date, int]]  # oldest first
    sockets: int
    merges: dict  # total, recent, last
    devices: int
    subscriptions: int
    jobs: list[JobRun]


def pool_dashboard(pool: IdentityPool, *, days: int = DASHBOARD_DAYS) -> PoolDashboard:
    """Everything the dashboard shows, in a handful of aggregate queries (no query per
    identity or dataset, so a pool of any size renders at once)."""
    identities = Identity.objects.filter(pool=pool).aggregate(
        total=Count("id"),
        guest=Count("id", filter=Q(state=Identity.State.GUEST)),
        authenticated=Count("id", filter=Q(state=Identity.State.AUTHENTICATED)),
        disabled=Count("id", filter=Q(state=Identity.State.DISABLED, merged_into__isnull=True)),
        merged=Count("id", filter=Q(merged_into__isnull=False)),
    )
    live = Q(deleted__isnull=True)
    # (Aliases must not be field names of Dataset: "deleted", "records".)
    datasets = Dataset.objects.filter(identity__pool=pool).aggregate(
        live=Count("id", filter=live),
        removed=Count("id", filter=Q(deleted__isnull=False)),
        kept_by_merges=Count("id", filter=live & ~Q(merge_root="")),
        live_records=Sum("record_count", filter=live, default=0),
        storage=Sum("data_storage", filter=live, default=0),
        with_data=Count("identity", filter=live, distinct=True),
    )
    since = timezone.now() - timedelta(days=days)
    merges = Merge.objects.filter(pool=pool).aggregate(
        total=Count("id"), recent=Count("id", filter=Q(created__gte=since)), last=Max("created")
    )
    devices = Device.objects.filter(identity__pool=pool).aggregate(
        devices=Count("id", distinct=True), subscriptions=Count("subscriptions")
    )
    return PoolDashboard(
        pool=pool,
        identities=identities,
        datasets=datasets,
        syncs=usage.syncs_per_day(pool.id, days=days),
        sockets=usage.pool_sockets(pool.id),
        merges=merges,
        devices=devices["devices"],
        subscriptions=devices["subscriptions"],
        jobs=latest_job_runs(),
    )


def latest_job_runs() -> list[JobRun]:
    """The latest run of each background job (the jobs are few; each lookup uses the
    (name, -started) index)."""
    names = JobRun.objects.order_by().values_list("name", flat=True).distinct()
    runs = [JobRun.objects.filter(name=name).order_by("-started").first() for name in names]
    return sorted((run for run in runs if run is not None), key=lambda run: run.name)


# --- A person's identities ---------------------------------------------------------------------
def person_identities(
    *,
    identity_id: str | None = None,
    login: tuple[str, str] | None = None,
    developer_user: str | None = None,
    username: str | None = None,
    pool_id: str | None = None,
) -> list[Identity]:
    """The identities one of these names: an identity id, a login (provider, subject), a
    developer user identifier (of any pool with a developer provider, or of `pool_id`), or a
    user of the site's own accounts (the site pool's developer login). Raises
    ResourceNotFound with what was looked for when there is none."""
    identities = Identity.objects.select_related("pool")
    if identity_id is not None:
        found = list(identities.filter(id=identity_id))
        wanted = f"Identity '{identity_id}'"
    elif login is not None:
        provider, subject = login
        logins = Login.objects.filter(provider=provider, subject=subject)
        found = list(identities.filter(logins__in=logins).distinct())
        wanted = f"An identity with the login {provider}={subject}"
    elif developer_user is not None:
        logins = Login.objects.filter(
            subject=developer_user, provider=F("pool__developer_provider_name")
        )
        found = list(identities.filter(logins__in=logins).distinct())
        wanted = f"An identity with the developer user identifier '{developer_user}'"
    elif username is not None:
        user = (
            get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}).first()
        )
        if user is None:
            raise ResourceNotFound(f"No site account is called '{username}'.")
        site = IdentityPool.objects.filter(id=settings.COGNATE_SITE_POOL_ID).first()
        logins = Login.objects.filter(
            pool=site, provider=site.developer_provider_name if site else "", subject=str(user.pk)
        )
        found = list(identities.filter(logins__in=logins).distinct())
        wanted = f"An identity of the site account '{username}'"
    else:
        raise ValueError("name an identity, a login, a developer user or a site account")
    if pool_id is not None:
        found = [identity for identity in found if identity.pool_id == pool_id]
        wanted += f" in pool '{pool_id}'"
    if not found:
        raise ResourceNotFound(f"{wanted} was not found.")
    return sorted(found, key=lambda identity: identity.id)


def merged_into(identities: list[Identity]) -> list[Identity]:
    """The identities merged (directly or through others) into these: their rows still hold
    what the person did before the merge."""
    seen = {identity.id for identity in identities}
    found: list[Identity] = []
    frontier = list(seen)
    while frontier:
        step = list(Identity.objects.filter(merged_into_id__in=frontier).exclude(id__in=seen))
        seen.update(identity.id for identity in step)
        found += step
        frontier = [identity.id for identity in step]
    return sorted(found, key=lambda identity: identity.id)


def erasure_summary(identities: list[Identity]) -> dict[str, int]:
    """What deleting these identities deletes, counted."""
    ids = [identity.id for identity in identities]
    datasets = Dataset.objects.filter(identity_id__in=ids)
    return {
        "identities": len(ids),
        "logins": Login.objects.filter(identity_id__in=ids).count(),
        "datasets": datasets.count(),
        "records": Record.objects.filter(dataset__in=datasets).count(),
        "devices": Device.objects.filter(identity_id__in=ids).count(),
        "merges": Merge.objects.filter(survivor_id__in=ids).count(),
    }


# --- Export -------------------------------------------------------------------------------------
def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _merge_shape(merge: Merge) -> dict:
    return {
        "merged_identity": merge.merged_identity_id,
        "survivor": merge.survivor_id,
        "created": _when(merge.created),
        "trigger": merge.trigger,
        "logins": merge.logins,
        "policy": merge.policy,
        "summary": merge.summary,
    }


def _dataset_shape(dataset: Dataset) -> dict:
    return {
        "name": dataset.name,
        "merge_root": dataset.merge_root or None,
        "sync_count": dataset.sync_count,
        "created": _when(dataset.created),
        "modified": _when(dataset.modified),
        "last_modified_by": dataset.last_modified_by,
        "data_storage": dataset.data_storage,
        "record_count": dataset.record_count,
        "deleted": _when(dataset.deleted),
        "records": [
            {
                "key": record.key,
                "value": record.value,
                "removed": record.value is None,
                "sync_count": record.sync_count,
                "modified": _when(record.modified),
                "modified_by": record.modified_by,
                "device_modified": _when(record.device_modified),
            }
            for record in sorted(dataset.records.all(), key=lambda record: record.key)
        ],
    }


def identity_export(identity: Identity, *, with_merged: bool = True) -> dict:
    """Everything kept about an identity, as JSON-able data: the identity, its logins and
    tags, its merges, its datasets with every record (removed keys included) and its devices.
    With `with_merged`, the identities merged into it are exported inside it."""
    identity = Identity.objects.select_related("pool").get(pk=identity.pk)
    pool = identity.pool
    logins = list(identity.logins.order_by("provider", "subject"))
    datasets = identity.datasets.order_by("name").prefetch_related("records")
    devices = identity.devices.order_by("device_id").prefetch_related("subscriptions")
    exported = {
        "exported": _when(timezone.now()),
        "identity": identity.id,
        "pool": {"id": pool.id, "name": pool.name},
        "state": identity.state,
        "merged_into": identity.merged_into_id,
        "created": _when(identity.created),
        "modified": _when(identity.modified),
        "last_used": _when(identity.last_used),
        "credentials_not_before": _when(identity.credentials_not_before),
        "principal_tags": identity.principal_tags,
        "logins": [
            {"provider": login.provider, "subject": login.subject, "created": _when(login.created)}
            for login in logins
        ],
        "developer_identifiers": sorted(
            login.subject
            for login in logins
            if pool.developer_provider_name and login.provider == pool.developer_provider_name
        ),
        "merges_in": [_merge_shape(merge) for merge in identity.merges_in.order_by("created")],
        "merges_out": [_merge_shape(merge) for merge in identity.merges_out.order_by("created")],
        "datasets": [_dataset_shape(dataset) for dataset in datasets],
        "devices": [
            {
                "device_id": device.device_id,
                "platform": device.platform,
                "token": device.token,
                "created": _when(device.created),
                "subscriptions": sorted(s.dataset_name for s in device.subscriptions.all()),
            }
            for device in devices
        ],
    }
    if with_merged:
        exported["merged_identities"] = [
            identity_export(merged, with_merged=False) for merged in merged_into([identity])
        ]
    return exported
