"""How long the server keeps what nobody uses: unused guests of the pools with a guest
retention, and revocations no credential or token can need any more (docs/operations.md).
The retention job (syncstore/tasks.py) runs these."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Coalesce

from aws.errors import InvalidParameter
from identity import hooks
from identity.models import Identity, IdentityPool
from identity.services.identities import identities_delete
from identity.services.issuing import MAX_TOKEN_DURATION


@transaction.atomic
def pool_retention_set(
    *, pool: IdentityPool, guest_days: int | None, merged_data_days: int | None
) -> None:
    """How long the pool keeps unused guests and the datasets merges kept aside (None: for
    ever); the retention job applies them (docs/operations.md)."""
    for days in (guest_days, merged_data_days):
        if days is not None and days < 1:
            raise InvalidParameter("A retention is at least one day (or empty: for ever).")
    IdentityPool.objects.filter(pk=pool.pk).update(
        guest_retention_days=guest_days, merged_data_retention_days=merged_data_days
    )
    pool.guest_retention_days = guest_days
    pool.merged_data_retention_days = merged_data_days


def _revocation_kept_for() -> timedelta:
    """Past this, no credential or token issued before a revocation can still be valid
    (developer tokens live up to 24 hours; the others as configured)."""
    longest = max(
        MAX_TOKEN_DURATION,
        settings.COGNATE_OPENID_TOKEN_LIFETIME,
        settings.COGNATE_CREDENTIALS_LIFETIME,
    )
    return timedelta(seconds=longest + 3600)


def guests_expire(*, now: datetime, batch: int = 500) -> dict:
    """Delete, with their data, the guests of each pool with a guest retention that have not
    been used for that many days: given no credentials or token, and seen in use by none of
    the hooks (syncstore: no dataset written)."""
    deleted: dict[str, int] = {}
    for pool in IdentityPool.objects.filter(guest_retention_days__isnull=False):
        cutoff = now - timedelta(days=pool.guest_retention_days or 0)
        stale = (
            Identity.objects.filter(pool=pool, state=Identity.State.GUEST)
            .annotate(seen=Coalesce("last_used", "created"))
            .filter(seen__lt=cutoff)
            .exclude(hooks.in_use(since=cutoff))
            .exclude(merged_from__isnull=False)
            .order_by("pk")
        )
        count = 0
        while ids := list(stale.values_list("pk", flat=True)[:batch]):
            with transaction.atomic():
                # Lock them, then look again: a guest given credentials (or a dataset write
                # that created its dataset) since the first look stays.
                list(Identity.objects.select_for_update().filter(pk__in=ids).values("pk"))
                still = list(stale.filter(pk__in=ids).values_list("pk", flat=True))
                identities_delete(identities=[Identity(pk=pk) for pk in still])
            count += len(still)
            if not still:
                break
        if count:
            deleted[pool.id] = count
    return {"guests_deleted": sum(deleted.values()), "by_pool": deleted}


@transaction.atomic
def revocations_prune(*, now: datetime) -> dict:
    """Forget revocations older than any credential or token can live (disabled identities
    stay refused by their state)."""
    pruned = (
        Identity.objects.filter(credentials_not_before__lt=now - _revocation_kept_for())
        .exclude(state=Identity.State.DISABLED)
        .update(credentials_not_before=None)
    )
    return {"revocations_pruned": pruned}
