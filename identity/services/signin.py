"""Signing in with logins (DESIGN §3, "Linking and merging"): verifying them, linking new
ones, merging a guest into the identity that owns them, unlinking; and the same for the
developer user identifiers of the app's own account system."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from aws.errors import InvalidParameter, NotAuthorized, ResourceConflict, ResourceNotFound
from identity import hooks, providers, selectors
from identity.models import Identity, Login, Merge
from identity.providers import VerifiedLogin
from identity.selectors import PoolView
from identity.services.base import new_identity_id
from identity.services.identities import (
    identity_disable,
    identity_revoke_credentials,
    identity_with_login_create,
)

LOGINS_DONT_MATCH = (
    "Logins don't match. Please include at least one valid login for this identity or "
    "identity pool."
)


def logins_verify(pool: PoolView, logins: dict[str, str]) -> list[VerifiedLogin]:
    """Verify every Logins entry for the pool; one bad token fails the call."""
    verified = []
    for key, token in logins.items():
        if pool.developer_provider_name and key == pool.developer_provider_name:
            raise NotAuthorized(
                f"The developer provider name '{key}' cannot be used in Logins here; the "
                "backend gets tokens for developer identities with "
                "GetOpenIdTokenForDeveloperIdentity."
            )
        verified.append(providers.verify_login(key, token, pool))
    return verified


def _owners(pool: PoolView, logins: list[VerifiedLogin]) -> set[str]:
    """The identities (as they now live, after merges) that the logins belong to."""
    return _ownership(pool, logins)[0]


def _ownership(
    pool: PoolView, logins: list[VerifiedLogin]
) -> tuple[set[str], dict[tuple[str, str], str]]:
    """The identities the logins belong to (as they now live, after merges), and which
    identity each (provider, subject) login is linked to now."""
    owned = selectors.login_owners(
        pool.id, [(login.provider, login.subject) for login in logins if not login.identity_id]
    )
    ids = set(owned.values()) | {login.identity_id for login in logins if login.identity_id}
    survivors = set()
    for identity in Identity.objects.filter(id__in=ids, pool_id=pool.id):
        survivors.add(selectors.identity_survivor(identity).id)
    return survivors, owned


def _locked(ids: set[str]) -> dict[str, Identity]:
    """Lock identities in id order (so concurrent sign-ins cannot deadlock)."""
    return {
        identity.id: identity
        for identity in Identity.objects.select_for_update().filter(id__in=ids).order_by("id")
    }


def _link(
    identity: Identity,
    pool: PoolView,
    logins: list[VerifiedLogin],
    owned: dict[tuple[str, str], str],
    *,
    new: bool = False,
) -> None:
    """Link the logins nobody owns to the identity: one login per public provider per
    identity (an identity may hold several developer user identifiers). `owned` is what
    `_ownership` found, every owner living on as this identity (the caller merged the others,
    and passes nothing then); `new` says the identity was just made (so it has no logins)."""
    # A login `owned` is this identity's, or one's that was merged into it and lives on as it.
    wanted = [(login.provider, login.subject) for login in logins if not login.identity_id]
    if all(pair in owned for pair in wanted):
        return  # a returning user: every login is already this identity's
    linked = set() if new else set(selectors.identity_logins(identity.id))
    providers_linked = {provider for provider, _ in linked}
    for login in logins:
        pair = (login.provider, login.subject)
        if login.identity_id or pair in linked or pair in owned:
            continue
        if login.provider in providers_linked and login.provider != pool.developer_provider_name:
            raise ResourceConflict(
                f"Identity '{identity.id}' already has a login of {login.provider}; an "
                "identity has one login per provider (unlink it first)."
            )
        Login.objects.create(
            pool_id=pool.id, provider=login.provider, subject=login.subject, identity=identity
        )
        linked.add((login.provider, login.subject))
        providers_linked.add(login.provider)


@transaction.atomic
def _sign_in_once(
    pool: PoolView,
    logins: list[VerifiedLogin],
    identity_id: str | None,
    trigger: str,
    trusted: bool,
) -> Identity:
    owners, owned = _ownership(pool, logins)
    locked = _locked(owners | ({identity_id} if identity_id else set()))
    current = None
    if identity_id is not None:
        current = locked.get(identity_id)
        if current is None or current.pool_id != pool.id:
            raise ResourceNotFound(f"Identity '{identity_id}' not found.")
        current = selectors.identity_survivor(current)
        if current.id not in locked:
            locked.update(_locked({current.id}))
            current = locked[current.id]
        if current.state == Identity.State.DISABLED:
            raise NotAuthorized(f"Access to Identity '{current.id}' is forbidden.")
        authenticated = current.state == Identity.State.AUTHENTICATED
        if authenticated and current.id not in owners and not trusted:
            raise NotAuthorized(LOGINS_DONT_MATCH)
    others = sorted((locked[i] for i in owners if i in locked), key=lambda i: (i.created, i.id))
    if current is not None and current.state == Identity.State.AUTHENTICATED:
        survivor = current
    elif others:
        survivor = others[0]  # the oldest account the logins belong to
    elif current is not None:
        survivor = current  # a guest with new logins keeps its id
    else:
        survivor = Identity.objects.create(  # in use from now (identity_touch writes nothing)
            id=new_identity_id(),
            pool_id=pool.id,
            state=Identity.State.AUTHENTICATED,
            last_used=timezone.now(),
        )
    names = [login.provider for login in logins]
    merged = [o for o in [*others, *([current] if current else [])] if o.id != survivor.id]
    for other in merged:
        identity_merge(merged=other, survivor=survivor, trigger=trigger, logins=names)
    # After a merge the merged identities' logins are the survivor's: look them up again.
    _link(
        survivor,
        pool,
        logins,
        {} if merged else owned,
        new=not others and current is None,
    )
    if survivor.state != Identity.State.AUTHENTICATED:
        survivor.state = Identity.State.AUTHENTICATED
        survivor.modified = timezone.now()
        survivor.save(update_fields=["state", "modified"])
    return survivor


def identity_sign_in(
    *,
    pool: PoolView,
    logins: list[VerifiedLogin],
    identity_id: str | None = None,
    trigger: str,
    trusted: bool = False,
) -> Identity:
    """The identity verified logins sign in to (DESIGN §3): the one that owns them, linking
    any new logins to it; a guest (`identity_id`) with logins nobody owns keeps its id and
    becomes authenticated; a guest with logins another identity owns is merged into that
    owner, which is returned. An authenticated identity needs one of its own logins, unless
    the caller is `trusted` (the site's backend, linking a developer login)."""
    for attempt in range(3):
        try:
            return _sign_in_once(pool, logins, identity_id, trigger, trusted)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@transaction.atomic
def identity_merge(
    *, merged: Identity, survivor: Identity, trigger: str, logins: list[str]
) -> Merge:
    """Merge one identity into another: the survivor gets the merged identity's logins and
    data (by the pool's merge policy, through the hooks' `identity_merging`); the merged
    identity is disabled with `merged_into` and its credentials revoked; the hooks hear of it
    after commit (syncstore tells both identities' devices)."""
    if merged.pool_id != survivor.pool_id or merged.id == survivor.id:
        raise InvalidParameter("Only two different identities of one pool can be merged.")
    locked = _locked({merged.id, survivor.id})
    merged, survivor = locked[merged.id], locked[survivor.id]
    pool = selectors.pool_view(survivor.pool_id)
    ours = dict(selectors.identity_logins(survivor.id))
    for provider, subject in selectors.identity_logins(merged.id):
        if provider == pool.developer_provider_name:
            continue  # an identity may hold several developer user identifiers
        if ours.get(provider, subject) != subject:
            raise ResourceConflict(
                f"Identities '{merged.id}' and '{survivor.id}' have different logins of "
                f"{provider}; they cannot be merged."
            )
    Login.objects.filter(identity=merged).update(identity=survivor)
    Identity.objects.filter(merged_into=merged).update(merged_into=survivor)
    # The data moves in this transaction: a merge that fails leaves both identities whole.
    summary = hooks.merging(merged=merged, survivor=survivor, policy=pool.merge_policy)
    now = timezone.now()
    Identity.objects.filter(pk=merged.pk).update(
        state=Identity.State.DISABLED, merged_into=survivor, modified=now
    )
    merged.state, merged.merged_into = Identity.State.DISABLED, survivor
    identity_revoke_credentials(identity=merged, reason=None)
    if survivor.state == Identity.State.GUEST and ours:
        survivor.state = Identity.State.AUTHENTICATED
    survivor.modified = now
    survivor.save(update_fields=["state", "modified"])
    hooks.merged(merged_id=merged.id, survivor_id=survivor.id, summary=summary)
    return Merge.objects.create(
        pool_id=survivor.pool_id,
        merged_identity_id=merged.id,
        merged=merged,
        survivor=survivor,
        trigger=trigger,
        logins=logins,
        policy=pool.merge_policy,
        summary=summary,
    )


@transaction.atomic
def identity_unlink(*, identity: Identity, logins: list[VerifiedLogin], remove: list[str]) -> None:
    """Remove logins (by provider) from an identity that proved itself with one of its own
    logins. Unlinked logins make a new identity when next seen; without any login left the
    identity is disabled. Credentials issued so far are revoked."""
    if identity.id not in _owners(selectors.pool_view(identity.pool_id), logins):
        raise NotAuthorized(LOGINS_DONT_MATCH)
    Login.objects.filter(identity=identity, provider__in=remove).delete()
    if not Login.objects.filter(identity=identity).exists():
        identity_disable(identity=identity)
    else:
        identity_revoke_credentials(identity=identity, reason="unlinked")


# --- Developer-authenticated identities ----------------------------------------------------------
def developer_provider(pool: PoolView, name: str | None = None) -> str:
    """The pool's developer provider name (and that `name`, if given, is it)."""
    if not pool.developer_provider_name:
        raise InvalidParameter(
            "This identity pool has no DeveloperProviderName; set one with UpdateIdentityPool "
            "(it cannot change afterwards)."
        )
    if name is not None and name != pool.developer_provider_name:
        raise InvalidParameter(
            f"DeveloperProviderName {name!r} is not this pool's ({pool.developer_provider_name!r})."
        )
    return pool.developer_provider_name


def developer_sign_in(pool: PoolView, identifier: str, *, trigger: str) -> Identity:
    """The identity of a developer user identifier alone (the usual
    GetOpenIdTokenForDeveloperIdentity, the site's sign-in without a guest): its owner,
    found with one statement, or a new identity made with its login in one statement.
    Anything else (a merged or disabled owner, another call making the same user at the same
    moment) takes `identity_sign_in`'s way."""
    name = developer_provider(pool)
    owner = selectors.login_identity(pool.id, name, identifier)
    if owner is None:
        made = identity_with_login_create(pool=pool, provider=name, subject=identifier)
        if made is not None:
            return made
    elif owner.merged_into_id is None and owner.state == Identity.State.AUTHENTICATED:
        return owner
    login = VerifiedLogin(provider=name, subject=identifier)
    return identity_sign_in(pool=pool, logins=[login], trigger=trigger, trusted=True)


def developer_owner(pool: PoolView, identifier: str) -> Identity | None:
    """The identity (as it now lives) a developer user identifier belongs to."""
    owner = selectors.login_identity(pool.id, pool.developer_provider_name, identifier)
    return None if owner is None else selectors.identity_survivor(owner)


def developer_identifiers(identity: Identity, pool: PoolView) -> list[str]:
    return sorted(
        subject
        for provider, subject in selectors.identity_logins(identity.id)
        if provider == pool.developer_provider_name
    )


@transaction.atomic
def developer_identities_merge(
    *, pool: PoolView, source_identifier: str, destination_identifier: str
) -> Identity:
    """MergeDeveloperIdentities: the source user's identity merges into the destination
    user's, which survives (the same merge service and policy as public logins)."""
    source = developer_owner(pool, source_identifier)
    destination = developer_owner(pool, destination_identifier)
    for identifier, found in ((source_identifier, source), (destination_identifier, destination)):
        if found is None:
            raise ResourceNotFound(f"Developer user identifier '{identifier}' not found.")
    assert source is not None and destination is not None
    if source.id != destination.id:
        identity_merge(
            merged=source,
            survivor=destination,
            trigger="MergeDeveloperIdentities",
            logins=[pool.developer_provider_name],
        )
    return destination


@transaction.atomic
def developer_identity_unlink(*, identity: Identity, pool: PoolView, identifier: str) -> None:
    """UnlinkDeveloperIdentity: the identifier is a new identity when next seen; an identity
    left with no login becomes unreachable (disabled). Its credentials are revoked."""
    removed, _ = Login.objects.filter(
        identity=identity, provider=pool.developer_provider_name, subject=identifier
    ).delete()
    if not removed:
        raise ResourceConflict(
            f"Developer user identifier '{identifier}' is not linked to identity '{identity.id}'."
        )
    if not Login.objects.filter(identity=identity).exists():
        identity_disable(identity=identity)
    else:
        identity_revoke_credentials(identity=identity, reason="unlinked")
