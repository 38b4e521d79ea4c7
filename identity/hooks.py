"""What identity tells the rest of the site (an identity merged into another, its credentials
revoked, identities deleted) and the one thing it asks (which guests are in use). Identity
never imports the apps that keep data about identities: they subclass `IdentityHooks` and
are named, in order, in the COGNATE_IDENTITY_HOOKS setting (like AUTHENTICATION_BACKENDS);
syncstore's are `syncstore.hooks.DataHooks`.

A merge's data step runs inside the merge's transaction, so the data and the identities move
together or not at all; what is told is heard after commit, so nothing is announced for a
change that rolled back."""

from collections.abc import Callable
from datetime import datetime
from functools import cache, partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import transaction
from django.db.models import Q
from django.dispatch import receiver
from django.utils.module_loading import import_string

from identity.models import Identity

SETTING = "COGNATE_IDENTITY_HOOKS"


class IdentityHooks:
    """The contract; every method does nothing here, so a subclass overrides only what it
    needs. Methods take keyword arguments, and may be given new ones in later versions."""

    def identity_merging(self, *, merged: Identity, survivor: Identity, policy: str) -> list[dict]:
        """Inside the merge's transaction, both identities locked, before `merged` is disabled:
        carry what is kept about `merged` over to `survivor`, as the pool's merge `policy`
        says. Returns what moved, as JSON-able dicts (recorded in the Merge's summary).
        Raising rolls the whole merge back."""
        return []

    def identities_merged(self, *, merged_id: str, survivor_id: str, summary: list[dict]) -> None:
        """After the merge committed: `summary` is every hook's `identity_merging` result,
        in the order of the setting."""

    def identity_revoked(self, *, identity_id: str, reason: str) -> None:
        """After commit: every credential and token issued to the identity so far is refused
        from now on; `reason` is "revoked" (an operator), "disabled" or "unlinked"."""

    def identities_deleted(self, *, identity_ids: list[str]) -> None:
        """After commit: these identities were deleted (an operator, an erasure, retention,
        their pool deleted) with everything the database cascades to."""

    def identities_in_use(self, *, since: datetime) -> Q:
        """While guest retention looks for unused guests (a read, in its transaction): a
        condition on Identity that holds for the identities this side saw in use since
        `since`; retention keeps those. Q() matches none."""
        return Q()


def load(path: str) -> IdentityHooks:
    """A hook made from its dotted path, or ImproperlyConfigured saying what is wrong."""
    try:
        hook_class = import_string(path)
    except ImportError as error:
        raise ImproperlyConfigured(f"{SETTING}: {path!r} cannot be imported ({error}).") from None
    if not (isinstance(hook_class, type) and issubclass(hook_class, IdentityHooks)):
        raise ImproperlyConfigured(
            f"{SETTING}: {path!r} is not a subclass of identity.hooks.IdentityHooks."
        )
    return hook_class()


@cache
def installed() -> tuple[IdentityHooks, ...]:
    """The hooks of the setting, in its order, each made once per process."""
    return tuple(load(path) for path in getattr(settings, SETTING))


@receiver(setting_changed, dispatch_uid="cognate.identity-hooks")
def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING:
        installed.cache_clear()


def merging(*, merged: Identity, survivor: Identity, policy: str) -> list[dict]:
    """Run every hook's data step of a merge (call inside the merge's transaction)."""
    summary: list[dict] = []
    for hook in installed():
        summary += hook.identity_merging(merged=merged, survivor=survivor, policy=policy)
    return summary


def in_use(*, since: datetime) -> Q:
    """The identities any hook saw in use since `since`, as a condition on Identity."""
    condition = Q()
    for hook in installed():
        condition |= hook.identities_in_use(since=since)
    return condition


def _after_commit(callback: Callable[[], None]) -> None:
    # robust: the change is committed even if a hook fails to hear of it; the failure is
    # logged and the other hooks still hear.
    transaction.on_commit(callback, robust=True)


def merged(*, merged_id: str, survivor_id: str, summary: list[dict]) -> None:
    """Tell every hook, after commit, that a merge happened."""
    for hook in installed():
        _after_commit(
            partial(
                hook.identities_merged,
                merged_id=merged_id,
                survivor_id=survivor_id,
                summary=summary,
            )
        )


def revoked(*, identity_id: str, reason: str) -> None:
    """Tell every hook, after commit, that an identity's credentials were revoked."""
    for hook in installed():
        _after_commit(partial(hook.identity_revoked, identity_id=identity_id, reason=reason))


def deleted(*, identity_ids: list[str]) -> None:
    """Tell every hook, after commit, that identities were deleted."""
    for hook in installed():
        _after_commit(partial(hook.identities_deleted, identity_ids=identity_ids))
