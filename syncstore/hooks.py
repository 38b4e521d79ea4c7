"""The data side's answers to identity's hooks (identity/hooks.py, named in the
COGNATE_IDENTITY_HOOKS setting): a merge carries the datasets over in its transaction; the
devices of the identities concerned hear of merges, revocations and deletions; a guest that
wrote a dataset is in use."""

from datetime import datetime

from django.db.models import Q

from identity.hooks import IdentityHooks
from identity.models import Identity
from syncstore import events, services


class DataHooks(IdentityHooks):
    def identity_merging(self, *, merged: Identity, survivor: Identity, policy: str) -> list[dict]:
        moved = services.datasets_merge(merged=merged, survivor=survivor, policy=policy)
        return [dataset.as_dict() for dataset in moved]

    def identities_merged(self, *, merged_id: str, survivor_id: str, summary: list[dict]) -> None:
        datasets = [item["dataset"] for item in summary if "dataset" in item]
        events.identities_merged(survivor_id=survivor_id, merged_id=merged_id, datasets=datasets)

    def identity_revoked(self, *, identity_id: str, reason: str) -> None:
        events.identity_revoked(identity_id=identity_id, reason=reason)

    def identities_deleted(self, *, identity_ids: list[str]) -> None:
        for identity_id in identity_ids:
            events.identity_revoked(identity_id=identity_id, reason="deleted")

    def identities_in_use(self, *, since: datetime) -> Q:
        return Q(datasets__modified__gte=since)
