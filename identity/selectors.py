"""Reads of identity state. Wire code gets pools and identities only through these, and
"does not exist" and "not yours" give the same answer."""

import functools
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Prefetch, Q, QuerySet

from aws.errors import ResourceNotFound
from identity import statements
from identity.models import (
    AccessKey,
    Identity,
    IdentityPool,
    Login,
    OidcProvider,
    PrincipalTagMap,
    Role,
    SigningKey,
)

# A retired signing key stays published this long: the longest token lifetime (developer
# tokens, 24 hours) plus the clock skew verifiers allow.
RETIRED_KEY_PUBLISHED_FOR = 86400 + 300


def pool_not_found(pool_id: str) -> ResourceNotFound:
    return ResourceNotFound(f"IdentityPool '{pool_id}' not found.")


def pool_get(pool_id: str) -> IdentityPool:
    pool = IdentityPool.objects.filter(id=pool_id).first()
    if pool is None:
        raise pool_not_found(pool_id)
    return pool


# --- Pool and role configuration, cached ------------------------------------------------------
# The calls browsers make most (GetId, GetCredentialsForIdentity, every Sync call) need a
# pool's configuration and its roles' policies. Each process keeps them in memory and reads
# one cache key, the configuration generation, at most once a second; every service that
# changes a pool or a role sets a new generation after commit (and forgets this process's
# copies at once), so other processes reload within a second.


@dataclass(frozen=True)
class RoleView:
    arn: str
    role_id: str
    name: str
    trust_policy: dict
    policy: dict
    max_session_duration: int


@dataclass(frozen=True)
class PoolView:
    """A pool's configuration (its IdentityPool.CONFIG_FIELDS, then its roles)."""

    id: str
    name: str
    allow_unauthenticated: bool
    allow_classic_flow: bool | None
    supported_login_providers: dict
    developer_provider_name: str
    openid_connect_provider_arns: list
    cognito_identity_providers: list
    saml_provider_arns: list
    tags: dict
    role_mappings: dict
    authenticated_role: RoleView | None
    unauthenticated_role: RoleView | None

    @property
    def merge_policy(self) -> str:
        return self.tags.get(IdentityPool.MERGE_POLICY_TAG, "merge")


_GENERATION_KEY = "identity-config-generation"
CONFIG_CHECK_INTERVAL = 1.0


class _ConfigCache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.generation: str | None = None
        self.checked = 0.0
        self.pools: dict[str, PoolView] = {}
        self.roles: dict[str, RoleView] = {}
        self.key_pools: dict[int, frozenset[str] | None] = {}
        self.keys: dict[str, AccessKey] = {}

    def current(self) -> None:
        now = time.monotonic()
        if now - self.checked < CONFIG_CHECK_INTERVAL:
            return
        generation = cache.get(_GENERATION_KEY)
        if generation is None:
            cache.add(_GENERATION_KEY, uuid.uuid4().hex, None)
            generation = cache.get(_GENERATION_KEY)
        with self.lock:
            self.checked = now
            if generation != self.generation:
                self.generation = generation
                self.pools.clear()
                self.roles.clear()
                self.key_pools.clear()
                self.keys.clear()

    def forget(self) -> None:
        with self.lock:
            self.checked = 0.0
            self.generation = None
            self.pools.clear()
            self.roles.clear()
            self.key_pools.clear()
            self.keys.clear()


_config = _ConfigCache()


def config_changed() -> None:
    """Make every process reload pool and role configuration (call after commit)."""
    cache.set(_GENERATION_KEY, uuid.uuid4().hex, None)
    _config.forget()


def _role_view(role: Role | None) -> RoleView | None:
    if role is None:
        return None
    return RoleView(
        arn=role.arn,
        role_id=role.role_id,
        name=role.name,
        trust_policy=role.trust_policy,
        policy=role.policy,
        max_session_duration=role.max_session_duration,
    )


def pool_view(pool_id: str) -> PoolView:
    """A pool's configuration with its roles, from memory when nothing changed."""
    _config.current()
    view = _config.pools.get(pool_id)
    if view is not None:
        return view
    pool = (
        IdentityPool.objects.filter(id=pool_id)
        .select_related("authenticated_role", "unauthenticated_role")
        .first()
    )
    if pool is None:
        raise pool_not_found(pool_id)
    view = PoolView(
        id=pool.id,
        **{field: getattr(pool, field) for field in IdentityPool.CONFIG_FIELDS},
        role_mappings=pool.role_mappings,
        authenticated_role=_role_view(pool.authenticated_role),
        unauthenticated_role=_role_view(pool.unauthenticated_role),
    )
    with _config.lock:
        _config.pools[pool_id] = view
    return view


def role_view(arn: str) -> RoleView | None:
    _config.current()
    if arn in _config.roles:
        return _config.roles[arn]
    view = _role_view(Role.objects.filter(arn=arn).first())
    if view is not None:  # unknown ARNs are not remembered: anyone can send those
        with _config.lock:
            _config.roles[arn] = view
    return view


def pool_for_key(key: AccessKey, pool_id: str) -> IdentityPool:
    """A pool the operator key may act on (a key may be limited to some pools)."""
    pool = pool_get(pool_id)
    if not key_reaches_pool(key, pool_id):
        raise pool_not_found(pool_id)
    return pool


def pool_view_for_key(key: AccessKey, pool_id: str) -> PoolView:
    """The configuration of a pool the operator key may act on, from memory."""
    if not key_reaches_pool(key, pool_id):
        raise pool_not_found(pool_id)
    return pool_view(pool_id)


def key_reaches_pool(key: AccessKey, pool_id: str) -> bool:
    allowed = key_pool_ids(key)
    return allowed is None or pool_id in allowed


def key_pool_ids(key: AccessKey) -> frozenset[str] | None:
    """The pools a key is limited to, or None for every pool (kept in memory with the pool
    configuration: changing a key's pools is a configuration change)."""
    _config.current()
    if key.pk in _config.key_pools:
        return _config.key_pools[key.pk]
    ids = frozenset(key.pools.values_list("id", flat=True)) or None
    with _config.lock:
        _config.key_pools[key.pk] = ids
    return ids


def pools_page(key: AccessKey, *, after: str | None, limit: int) -> list[IdentityPool]:
    pools = IdentityPool.objects.order_by("id")
    allowed = key_pool_ids(key)
    if allowed is not None:
        pools = pools.filter(id__in=allowed)
    if after:
        pools = pools.filter(id__gt=after)
    return list(pools[:limit])


# What signing in and issuing credentials read of an identity: its id, pool id, state,
# revocation time and last use (another field costs a query of its own), in the model's
# order of fields (as `Model.from_db` takes them).
_IDENTITY_COLUMNS = tuple(
    field.attname
    for field in Identity._meta.concrete_fields
    if field.attname
    in {"id", "pool_id", "state", "merged_into_id", "credentials_not_before", "last_used"}
)
_IDENTITY_GET = (
    f"SELECT {', '.join(_IDENTITY_COLUMNS)} FROM {Identity._meta.db_table} WHERE id = %s"  # noqa: S608
)
_LOGIN_IDENTITY_GET = (
    f"SELECT {', '.join('i.' + column for column in _IDENTITY_COLUMNS)} "  # noqa: S608
    f"FROM {Login._meta.db_table} l JOIN {Identity._meta.db_table} i "
    "ON i.id = l.identity_id WHERE l.pool_id = %s AND l.provider = %s AND l.subject = %s"
)


def identity_get(identity_id: str) -> Identity:
    """An identity (`_IDENTITY_COLUMNS` only). Every GetCredentialsForIdentity reads one: the
    statement is written out, which costs a fraction of what building it with the ORM does."""
    identity = _identity_loaded(_IDENTITY_GET, [identity_id])
    if identity is None:
        raise ResourceNotFound(f"Identity '{identity_id}' not found.")
    return identity


def login_identity(pool_id: str, provider: str, subject: str) -> Identity | None:
    """The identity a login is linked to (as `identity_get` loads it), in one statement:
    every returning developer sign-in looks one up."""
    return _identity_loaded(_LOGIN_IDENTITY_GET, [pool_id, provider, subject])


def _identity_loaded(sql: str, params: list) -> Identity | None:
    """The identity of a written-out statement's one row of `_IDENTITY_COLUMNS`, its values
    converted as the ORM converts them (`Model.from_db`, the database's and each field's
    converters), without a queryset's per-query machinery."""
    with statements.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for index, converters in enumerate(_identity_converters()):
        for converter, expression in converters:
            values[index] = converter(values[index], expression, connection)
    return Identity.from_db(connection.alias, _IDENTITY_COLUMNS, values)


@functools.cache
def _identity_converters() -> list[list]:
    """Per column of `_IDENTITY_COLUMNS`, what the ORM would apply to its value, with the
    expression each converter is given (found once: they depend on the backend and the
    settings, not on the thread's connection)."""
    converters = []
    for field in Identity._meta.concrete_fields:
        if field.attname not in _IDENTITY_COLUMNS:
            continue
        column = field.get_col(Identity._meta.db_table)
        found = [*connection.ops.get_db_converters(column), *column.get_db_converters(connection)]
        converters.append([(converter, column) for converter in found])
    return converters


def identity_for_key(key: AccessKey, identity_id: str) -> Identity:
    identity = identity_get(identity_id)
    if not key_reaches_pool(key, identity.pool_id):
        raise ResourceNotFound(f"Identity '{identity_id}' not found.")
    return identity


def identity_login_names(identity: Identity) -> list[str]:
    return sorted({login.provider for login in identity.logins.all()})


def identities_page(
    pool: IdentityPool, *, hide_disabled: bool, after: str | None, limit: int
) -> list[Identity]:
    identities: QuerySet[Identity] = Identity.objects.filter(pool=pool).order_by("id")
    if hide_disabled:
        identities = identities.exclude(state=Identity.State.DISABLED)
    if after:
        identities = identities.filter(id__gt=after)
    return list(
        identities.prefetch_related(
            Prefetch("logins", queryset=Login.objects.only("provider", "identity_id"))
        )[:limit]
    )


def identities_by_ids(ids: Iterable[str]) -> dict[str, Identity]:
    return {i.id: i for i in Identity.objects.filter(id__in=list(ids))}


def identity_revoked_before(identity_id: str) -> float:
    """Seconds since the epoch before which the identity's credentials are refused; infinity
    when the identity no longer exists."""
    row = Identity.objects.filter(id=identity_id).values_list("credentials_not_before").first()
    if row is None:
        return float("inf")
    return row[0].timestamp() if row[0] else 0.0


def access_key_get(access_key_id: str) -> AccessKey | None:
    """An active operator key with its user, kept in memory with the pool configuration:
    a change to a key, to its user or to the user's permissions is a configuration change
    (identity.signals), seen by every process within a second."""
    _config.current()
    key = _config.keys.get(access_key_id)
    if key is not None:
        return key
    key = (
        AccessKey.objects.filter(access_key_id=access_key_id, is_active=True)
        .select_related("user")
        .first()
    )
    if key is not None:  # unknown ids are not remembered: anyone can send those
        with _config.lock:
            _config.keys[access_key_id] = key
    return key


def signing_key_by_kid(kid: str) -> SigningKey | None:
    return SigningKey.objects.filter(kid=kid).first()


def signing_keys_published(*, now: float) -> list[SigningKey]:
    cutoff = datetime.fromtimestamp(now - RETIRED_KEY_PUBLISHED_FOR, UTC)
    return list(SigningKey.objects.filter(Q(retired__isnull=True) | Q(retired__gt=cutoff)))


# --- OpenID Connect providers, logins, merges -------------------------------------------------
def oidc_provider_by_key(key: str) -> OidcProvider | None:
    """A registered issuer by its Logins key (its URL without the scheme)."""
    return OidcProvider.objects.filter(url__in=[f"https://{key}", f"http://{key}"]).first()


def oidc_provider_by_arn(arn: str) -> OidcProvider | None:
    prefix = f"arn:aws:iam::{settings.COGNATE_ACCOUNT_ID}:oidc-provider/"
    if not arn.startswith(prefix):
        return None
    return oidc_provider_by_key(arn.removeprefix(prefix))


def oidc_providers() -> list[OidcProvider]:
    return list(OidcProvider.objects.all())


def login_owners(pool_id: str, logins: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Which identity owns each (provider, subject) login of the pool."""
    wanted = list(logins)
    if not wanted:
        return {}
    query = Q()
    for provider, subject in wanted:
        query |= Q(provider=provider, subject=subject)
    rows = Login.objects.filter(query, pool_id=pool_id).values_list(
        "provider", "subject", "identity_id"
    )
    return {(provider, subject): identity_id for provider, subject, identity_id in rows}


def identity_logins(identity_id: str) -> list[tuple[str, str]]:
    return list(Login.objects.filter(identity_id=identity_id).values_list("provider", "subject"))


def identity_survivor(identity: Identity) -> Identity:
    """The identity a merged-away identity now lives on as (itself if it was not merged)."""
    seen = {identity.id}
    while identity.merged_into_id is not None:
        following = Identity.objects.filter(pk=identity.merged_into_id).first()
        if following is None or following.id in seen:
            break
        seen.add(following.id)
        identity = following
    return identity


def principal_tag_map(pool_id: str, provider: str) -> PrincipalTagMap | None:
    return PrincipalTagMap.objects.filter(pool_id=pool_id, provider=provider).first()
