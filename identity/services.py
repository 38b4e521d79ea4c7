"""Every write to identity state, and the business operations built on them. Wire adapters,
admin actions, commands and tasks all call these."""

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import regex
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from aws.errors import (
    DeveloperUserAlreadyRegistered,
    EntityAlreadyExists,
    InvalidIdentityPoolConfiguration,
    InvalidParameter,
    NotAuthorized,
    ResourceConflict,
    ResourceNotFound,
    TooManyRequests,
)
from identity import (
    clock,
    credentials,
    crypto,
    hooks,
    outbound,
    policies,
    providers,
    ratelimit,
    selectors,
    tokens,
)
from identity.credentials import GONE, TemporaryCredentials
from identity.models import (
    AccessKey,
    Identity,
    IdentityPool,
    Login,
    Merge,
    OidcProvider,
    PrincipalTagMap,
    Role,
    SigningKey,
)
from identity.providers import VerifiedLogin
from identity.selectors import PoolView, RoleView

COGNITO_PRINCIPAL = "cognito-identity.amazonaws.com"
AUD_KEY = f"{COGNITO_PRINCIPAL}:aud"
AMR_KEY = f"{COGNITO_PRINCIPAL}:amr"
SUB_KEY = f"{COGNITO_PRINCIPAL}:sub"


def new_identity_id() -> str:
    return f"{settings.COGNATE_REGION}:{uuid.uuid4()}"


def _config_changed() -> None:
    transaction.on_commit(selectors.config_changed)


def _now_dt(now: float | None = None) -> datetime:
    return datetime.fromtimestamp(clock.now() if now is None else now, UTC)


# --- Roles ------------------------------------------------------------------------------------
def default_trust_policy(*, pool_id: str, amr: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": COGNITO_PRINCIPAL},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {AUD_KEY: pool_id},
                    "ForAnyValue:StringLike": {AMR_KEY: amr},
                },
            }
        ],
    }


def default_access_policy() -> dict:
    """`cognito-sync:*` on the caller's own identity only, as the AWS console's roles do."""
    base = (
        f"arn:aws:cognito-sync:{settings.COGNATE_REGION}:{settings.COGNATE_ACCOUNT_ID}:"
        f"identitypool/${{{AUD_KEY}}}/identity/${{{SUB_KEY}}}"
    )
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["cognito-sync:*"], "Resource": [base, f"{base}/*"]}
        ],
    }


def role_arn_for(name: str) -> str:
    return f"arn:aws:iam::{settings.COGNATE_ACCOUNT_ID}:role/{name}"


def role_create(
    *,
    name: str,
    trust_policy: dict,
    policy: dict,
    pool: IdentityPool | None = None,
    description: str = "",
    max_session_duration: int = 3600,
) -> Role:
    _config_changed()
    return Role.objects.create(
        arn=role_arn_for(name),
        name=name,
        role_id=crypto.random_id("AROA", 17),
        pool=pool,
        description=description,
        trust_policy=trust_policy,
        policy=policy,
        max_session_duration=max_session_duration,
    )


@transaction.atomic
def role_update(*, role: Role, **fields: Any) -> Role:
    """Change a role's description, policies or session duration."""
    allowed = {"description", "trust_policy", "policy", "max_session_duration"}
    if set(fields) - allowed:
        raise TypeError(f"unknown role fields {set(fields) - allowed}")
    for name, value in fields.items():
        setattr(role, name, value)
    role.save(update_fields=list(fields))
    _config_changed()
    return role


@transaction.atomic
def role_delete(*, role: Role) -> None:
    """Delete a role; pools that used it have no role of that kind until one is set."""
    role.delete()
    _config_changed()


def _default_role_name(pool: IdentityPool, kind: str) -> str:
    stem = regex.sub(r"[^\w+=,.@-]", "_", pool.name, flags=regex.ASCII)
    suffix = f"{kind}_Role"
    name = f"Cognito_{stem}"[: 64 - len(suffix)] + suffix
    if Role.objects.filter(name=name).exists():
        tail = "_" + pool.id.split(":")[1][:8]
        name = name[: 64 - len(tail)] + tail
    return name


def _default_roles_create(pool: IdentityPool) -> None:
    for kind, amr, field in (
        ("Unauth", "unauthenticated", "unauthenticated_role"),
        ("Auth", "authenticated", "authenticated_role"),
    ):
        role = role_create(
            name=_default_role_name(pool, kind),
            trust_policy=default_trust_policy(pool_id=pool.id, amr=amr),
            policy=default_access_policy(),
            pool=pool,
            description=f"Default {amr} role of the identity pool {pool.name}",
        )
        setattr(pool, field, role)
    pool.save(update_fields=["unauthenticated_role", "authenticated_role"])


# --- Pools ------------------------------------------------------------------------------------
_POOL_FIELDS = {
    "name",
    "allow_unauthenticated",
    "allow_classic_flow",
    "supported_login_providers",
    "developer_provider_name",
    "openid_connect_provider_arns",
    "cognito_identity_providers",
    "saml_provider_arns",
    "tags",
}


def _check_tags(tags: dict[str, str]) -> None:
    policy = tags.get(IdentityPool.MERGE_POLICY_TAG)
    if policy is None:
        return
    if policy not in IdentityPool.MERGE_POLICIES:
        raise InvalidParameter(
            f"The tag {IdentityPool.MERGE_POLICY_TAG} must be one of "
            f"{', '.join(IdentityPool.MERGE_POLICIES)}, not {policy!r}."
        )
    if policy == "custom" and not settings.COGNATE_MERGE_RESOLVER:
        raise InvalidParameter(
            "The merge policy 'custom' needs a resolver: set COGNATE_MERGE_RESOLVER on the "
            "server first."
        )


@transaction.atomic
def pool_create(*, name: str, pool_id: str | None = None, **config: Any) -> IdentityPool:
    """Create a pool with its two default roles (guest and authenticated)."""
    unknown = set(config) - _POOL_FIELDS
    if unknown:
        raise TypeError(f"unknown pool fields {unknown}")
    _check_tags(config.get("tags", {}))
    pool = IdentityPool.objects.create(id=pool_id or new_identity_id(), name=name, **config)
    _default_roles_create(pool)
    _config_changed()
    return pool


@transaction.atomic
def pool_update(*, pool: IdentityPool, **config: Any) -> IdentityPool:
    """Replace the pool's whole configuration (reference §2.1: omitted fields revert to their
    defaults), except DeveloperProviderName, which cannot change once set."""
    unknown = set(config) - _POOL_FIELDS
    if unknown:
        raise TypeError(f"unknown pool fields {unknown}")
    _check_tags(config.get("tags", {}))
    pool = IdentityPool.objects.select_for_update().get(pk=pool.pk)
    developer = config.pop("developer_provider_name", "") or ""
    if pool.developer_provider_name and developer not in ("", pool.developer_provider_name):
        raise InvalidParameter(
            f"DeveloperProviderName cannot be changed once set; it is "
            f"'{pool.developer_provider_name}' for this pool."
        )
    defaults: dict[str, Any] = {
        "allow_classic_flow": None,
        "supported_login_providers": {},
        "openid_connect_provider_arns": [],
        "cognito_identity_providers": [],
        "saml_provider_arns": [],
        "tags": {},
    }
    for field, value in {**defaults, **config}.items():
        setattr(pool, field, value)
    pool.developer_provider_name = pool.developer_provider_name or developer
    pool.modified = timezone.now()
    pool.save()
    _config_changed()
    return pool


@transaction.atomic
def pool_developer_provider_set(*, pool: IdentityPool, name: str) -> None:
    """Give a pool its developer provider name (only once: it cannot change)."""
    pool = IdentityPool.objects.select_for_update().get(pk=pool.pk)
    if pool.developer_provider_name and pool.developer_provider_name != name:
        raise InvalidParameter("DeveloperProviderName cannot be changed once set.")
    pool.developer_provider_name = name
    pool.save(update_fields=["developer_provider_name"])
    _config_changed()


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


@transaction.atomic
def pool_delete(*, pool: IdentityPool) -> None:
    """Delete a pool, its identities and their data; their credentials stop working."""
    pool_id = pool.id
    identity_ids = list(Identity.objects.filter(pool=pool).values_list("id", flat=True))
    hooks.deleted(identity_ids=identity_ids)
    pool.delete()
    _config_changed()
    transaction.on_commit(lambda: credentials.revocation_remember(pool_id=pool_id, not_before=GONE))


@transaction.atomic
def pool_roles_set(*, pool: IdentityPool, roles: dict[str, str], role_mappings: dict) -> None:
    """Set the pool's authenticated/unauthenticated roles (by ARN) and role mappings."""
    pool = IdentityPool.objects.select_for_update().get(pk=pool.pk)
    found = {arn: Role.objects.filter(arn=arn).first() for arn in roles.values()}
    missing = [arn for arn, role in found.items() if role is None]
    if missing:
        raise InvalidParameter(
            f"Role {missing[0]} does not exist on this server. Create it in the admin "
            "(Identity, Roles) or use one of the pool's default roles."
        )
    pool.authenticated_role = found.get(roles.get("authenticated", ""))
    pool.unauthenticated_role = found.get(roles.get("unauthenticated", ""))
    pool.role_mappings = role_mappings
    pool.modified = timezone.now()
    pool.save(
        update_fields=["authenticated_role", "unauthenticated_role", "role_mappings", "modified"]
    )
    _config_changed()


MAX_TAGS = 50


@transaction.atomic
def pool_tag(*, pool: IdentityPool, tags: dict[str, str]) -> None:
    _check_tags(tags)
    pool = IdentityPool.objects.select_for_update().get(pk=pool.pk)
    merged = {**pool.tags, **tags}
    if len(merged) > MAX_TAGS:
        raise InvalidParameter(
            f"An identity pool can have at most {MAX_TAGS} tags; this would make {len(merged)}."
        )
    pool.tags = merged
    pool.save(update_fields=["tags"])
    _config_changed()


@transaction.atomic
def pool_untag(*, pool: IdentityPool, keys: list[str]) -> None:
    pool = IdentityPool.objects.select_for_update().get(pk=pool.pk)
    pool.tags = {k: v for k, v in pool.tags.items() if k not in set(keys)}
    pool.save(update_fields=["tags"])
    _config_changed()


# --- Identities -------------------------------------------------------------------------------
def identity_create_guest(*, pool: PoolView) -> Identity:
    """A new guest identity (GetId without Logins: a new one on every call)."""
    if not pool.allow_unauthenticated:
        raise NotAuthorized("Unauthenticated access is not supported for this identity pool.")
    return Identity.objects.create(id=new_identity_id(), pool_id=pool.id)


_POOL_ID = regex.compile(r"[\w-]+:[0-9a-f-]+")


def _guest_limits(pool_id: str | None, address: str) -> list[tuple[str, str, int, int, str]]:
    """(scope, key, limit, window, where) of each limit a new guest counts against, in the
    order they are taken: a refusal by the address's limits takes nothing from the pool's,
    so one flooding address cannot spend the pool's share."""
    limits = [
        (
            "guest-burst",
            address,
            settings.COGNATE_GUEST_BURST_LIMIT,
            settings.COGNATE_GUEST_BURST_WINDOW,
            "from this address",
        ),
        (
            "guest",
            address,
            settings.COGNATE_GUEST_RATE_LIMIT,
            settings.COGNATE_GUEST_RATE_WINDOW,
            "from this address",
        ),
    ]
    if pool_id and len(pool_id) <= 55 and _POOL_ID.fullmatch(pool_id):
        limits.append(
            (
                "guest-pool",
                pool_id,
                settings.COGNATE_GUEST_POOL_LIMIT,
                settings.COGNATE_GUEST_POOL_WINDOW,
                f"in identity pool {pool_id}",
            )
        )
    return limits


def _too_many_guests(where: str, limit: int, window: int, retry: int) -> TooManyRequests:
    return TooManyRequests(
        f"Too many new guests {where} ({limit} per {window} seconds); try again in {retry} "
        "seconds. An app should keep the IdentityId it was given and reuse it rather than "
        "ask for a new guest each time.",
        retry_after=retry,
    )


def guest_quota_take(*, pool_id: str | None, address: str) -> None:
    """Count one new guest against its client address's and its pool's limits, or refuse it
    with TooManyRequests (429) when one is spent. Only the cache is touched, so wire code may
    call this outside the database thread."""
    for scope, key, limit, window, where in _guest_limits(pool_id, address):
        allowed, retry = ratelimit.hit(scope, key, limit=limit, window=window)
        if not allowed:
            raise _too_many_guests(where, limit, window, retry)


def guest_quota_refusal(*, pool_id: str | None, address: str) -> TooManyRequests | None:
    """The refusal due to a new guest whose limit this process already saw spent in the
    current window; from memory alone, so a flood is refused at almost no cost."""
    for scope, key, limit, window, where in _guest_limits(pool_id, address):
        retry = ratelimit.spent(scope, key, limit=limit, window=window)
        if retry is not None:
            return _too_many_guests(where, limit, window, retry)
    return None


def identity_check_guest_access(identity: Identity, pool: PoolView) -> None:
    """Refuse unauthenticated use of anything but a live guest of a pool that allows them."""
    if identity.state != Identity.State.GUEST:
        raise NotAuthorized(f"Access to Identity '{identity.id}' is forbidden.")
    if not pool.allow_unauthenticated:
        raise NotAuthorized("Unauthenticated access is not supported for this identity pool.")


@transaction.atomic
def identity_revoke_credentials(
    *, identity: Identity, now: float | None = None, reason: str | None = "revoked"
) -> None:
    """Refuse every credential and token issued to the identity until now; its open sockets
    are closed."""
    at = _now_dt(now)
    Identity.objects.filter(pk=identity.pk).update(credentials_not_before=at, modified=at)
    identity.credentials_not_before = at
    transaction.on_commit(
        lambda: credentials.revocation_remember(identity_id=identity.id, not_before=at.timestamp())
    )
    if reason is not None:
        hooks.revoked(identity_id=identity.id, reason=reason)


@transaction.atomic
def identity_disable(*, identity: Identity, now: float | None = None) -> None:
    Identity.objects.filter(pk=identity.pk).update(state=Identity.State.DISABLED)
    identity.state = Identity.State.DISABLED
    identity_revoke_credentials(identity=identity, now=now, reason="disabled")


@transaction.atomic
def identities_delete(*, identities: list[Identity]) -> None:
    """Delete identities with their logins and data; their credentials stop working."""
    ids = [identity.id for identity in identities]
    Identity.objects.filter(id__in=ids).delete()
    hooks.deleted(identity_ids=ids)

    def remember() -> None:
        for identity_id in ids:
            credentials.revocation_remember(identity_id=identity_id, not_before=GONE)

    transaction.on_commit(remember)


# --- Retention --------------------------------------------------------------------------------
TOUCH_EVERY = timedelta(hours=1)


# Past this, no credential or token issued before a revocation can still be valid.
def _revocation_kept_for() -> timedelta:
    """Past this, no credential or token issued before a revocation can still be valid
    (developer tokens live up to 24 hours; the others as configured)."""
    longest = max(
        MAX_TOKEN_DURATION,
        settings.COGNATE_OPENID_TOKEN_LIFETIME,
        settings.COGNATE_CREDENTIALS_LIFETIME,
    )
    return timedelta(seconds=longest + 3600)


def identity_touch(identity: Identity, *, at: datetime | None = None) -> None:
    """Remember that the identity is in use (one write an hour at most): guest retention
    counts from it."""
    at = at or timezone.now()
    if identity.last_used is None or at - identity.last_used >= TOUCH_EVERY:
        Identity.objects.filter(pk=identity.pk).update(last_used=at)
        identity.last_used = at


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


@transaction.atomic
def signing_keys_maintain(*, now: datetime, max_age_days: int) -> dict:
    """Rotate the signing key in service once it is `max_age_days` old (0: never), and
    delete retired keys no longer published (every token they signed has expired)."""
    report: dict[str, object] = {"rotated": None}
    current = SigningKey.objects.filter(retired__isnull=True).order_by("-created").first()
    if (
        max_age_days
        and current is not None
        and now - current.created >= timedelta(days=max_age_days)
    ):
        report["rotated"] = {"retired": current.kid, "new": signing_key_rotate(at=now).kid}
    gone = now - timedelta(seconds=selectors.RETIRED_KEY_PUBLISHED_FOR)
    report["retired_keys_deleted"] = SigningKey.objects.filter(retired__lt=gone).delete()[0]
    return report


# --- Credentials and tokens -------------------------------------------------------------------
def role_trusts(role: RoleView, *, pool_id: str, identity_id: str, amr: list[str]) -> bool:
    """Whether the role's trust policy lets this identity assume it through Cognito."""
    request = policies.Request(
        action="sts:AssumeRoleWithWebIdentity",
        principal={"Federated": COGNITO_PRINCIPAL},
        context={AUD_KEY: pool_id, AMR_KEY: amr, SUB_KEY: identity_id},
    )
    return policies.is_allowed([role.trust_policy], request)


def role_for_identity(pool: PoolView, amr: list[str]) -> RoleView | None:
    """The role an identity of the pool gets: the authenticated role once it has a login,
    the unauthenticated role as a guest."""
    if "authenticated" in amr:
        return pool.authenticated_role
    return pool.unauthenticated_role


def token_session(claims: dict) -> credentials.Session:
    """What an OpenID token of this server lets its bearer do: the same role, checked the
    same way, as credentials from GetCredentialsForIdentity would carry."""
    pool = selectors.pool_view(str(claims.get("aud")))
    amr = [str(value) for value in claims.get("amr", [])]
    identity_id = claims["sub"]
    role = role_for_identity(pool, amr)
    if role is None or not role_trusts(role, pool_id=pool.id, identity_id=identity_id, amr=amr):
        raise _invalid_configuration()
    return credentials.Session(
        access_key_id="",
        secret_key="",
        identity_id=identity_id,
        pool_id=pool.id,
        role_arn=role.arn,
        role_id=role.role_id,
        session_name="CognitoIdentityToken",
        amr=amr,
        issued_at=float(claims.get("iat", 0)),
        expires_at=float(claims["exp"]),
        principal_tags=tags_from_claims(claims),
    )


def _invalid_configuration() -> InvalidIdentityPoolConfiguration:
    return InvalidIdentityPoolConfiguration(
        "Invalid identity pool configuration. Check assigned IAM roles for this pool."
    )


def guest_credentials_issue(
    *,
    identity: Identity,
    pool: PoolView,
    custom_role_arn: str | None = None,
    now: float | None = None,
) -> TemporaryCredentials:
    """Temporary credentials for a guest, with the pool's unauthenticated role (the enhanced
    flow: Cognito assumes the role on the guest's behalf)."""
    identity_check_guest_access(identity, pool)
    role = pool.unauthenticated_role
    if custom_role_arn and (role is None or custom_role_arn != role.arn):
        raise InvalidParameter(
            "CustomRoleArn must be the pool's unauthenticated role for a guest identity."
        )
    amr = ["unauthenticated"]
    if role is None or not role_trusts(
        role, pool_id=identity.pool_id, identity_id=identity.id, amr=amr
    ):
        raise _invalid_configuration()
    identity_touch(identity)
    return credentials.credentials_issue(
        identity_id=identity.id,
        pool_id=identity.pool_id,
        role_arn=role.arn,
        role_id=role.role_id,
        amr=amr,
        duration=min(settings.COGNATE_CREDENTIALS_LIFETIME, role.max_session_duration),
        now=now,
    )


def _check_classic_flow(pool: PoolView) -> None:
    # Only an explicit AllowClassicFlow=false refuses it: a pool that never set the flag
    # allows it, as on AWS (reference §3.1).
    if pool.allow_classic_flow is False:
        raise InvalidParameter("Basic (classic) flow is not enabled, please use enhanced flow.")


def guest_openid_token_issue(
    *, identity: Identity, pool: PoolView, now: float | None = None
) -> str:
    """The OpenID token of a guest (GetOpenIdToken), for the classic flow."""
    identity_check_guest_access(identity, pool)
    _check_classic_flow(pool)
    identity_touch(identity)
    return tokens.openid_token_issue(
        identity_id=identity.id,
        pool_id=identity.pool_id,
        amr=["unauthenticated"],
        lifetime=settings.COGNATE_OPENID_TOKEN_LIFETIME,
        now=now,
    )


# --- Signing in with logins: linking and merging ------------------------------------------------
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
    `_ownership` found; `new` says the identity was just made (so it has no logins)."""
    wanted = [(login.provider, login.subject) for login in logins if not login.identity_id]
    if all(owned.get(pair) == identity.id for pair in wanted):
        return  # a returning user: every login is already this identity's
    linked = set() if new else set(selectors.identity_logins(identity.id))
    providers_linked = {provider for provider, _ in linked}
    for login in logins:
        if login.identity_id or (login.provider, login.subject) in linked:
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
        survivor = Identity.objects.create(
            id=new_identity_id(), pool_id=pool.id, state=Identity.State.AUTHENTICATED
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


def amr_for(logins: list[VerifiedLogin]) -> list[str]:
    """`amr` of an authenticated identity: "authenticated", then each provider and a
    provider-specific entry (a Cognate token passes on its own entries)."""
    amr = ["authenticated"]
    for login in logins:
        if login.identity_id:
            entries = [str(v) for v in login.claims.get("amr", []) if v != "authenticated"]
        else:
            entries = [login.provider, f"{login.provider}:{login.subject}"]
        amr += [entry for entry in entries if entry not in amr]
    return amr


def _rule_matches(rule: dict, claims: dict) -> bool:
    if rule["Claim"] not in claims:
        return False
    claim = claims[rule["Claim"]]
    text = ",".join(map(str, claim)) if isinstance(claim, list) else str(claim)
    value = rule["Value"]
    return {
        "Equals": text == value,
        "Contains": value in text,
        "StartsWith": text.startswith(value),
        "NotEqual": text != value,
    }[rule["MatchType"]]


def role_for_logins(
    pool: PoolView, logins: list[VerifiedLogin], custom_role_arn: str | None = None
) -> RoleView:
    """The role an authenticated identity gets (reference §3.7): the pool's authenticated
    role, unless a role mapping of a login's provider decides (Token: the token's
    cognito:preferred_role / cognito:roles; Rules: the first matching rule), with
    CustomRoleArn choosing among the roles the mapping allows."""
    login = next((item for item in logins if item.provider in pool.role_mappings), None)
    chosen: str | None = None
    if login is None:
        default = pool.authenticated_role
        if custom_role_arn and (default is None or custom_role_arn != default.arn):
            raise NotAuthorized(
                f"CustomRoleArn {custom_role_arn} is not a role these logins may assume."
            )
        if default is None:
            raise _invalid_configuration()
        return default
    mapping = pool.role_mappings[login.provider]
    claims = login.claims
    if mapping["Type"] == "Token":
        roles = claims.get("cognito:roles") or []
        roles = roles.split(",") if isinstance(roles, str) else list(roles)
        if custom_role_arn:
            if custom_role_arn not in roles:
                raise NotAuthorized(
                    f"CustomRoleArn {custom_role_arn} is not among the token's cognito:roles."
                )
            chosen = custom_role_arn
        else:
            chosen = claims.get("cognito:preferred_role")
    else:
        rules = mapping.get("RulesConfiguration", {}).get("Rules", [])
        matching = [rule["RoleARN"] for rule in rules if _rule_matches(rule, claims)]
        if custom_role_arn and custom_role_arn in matching:
            chosen = custom_role_arn
        elif custom_role_arn:
            raise NotAuthorized(
                f"CustomRoleArn {custom_role_arn} is not a role the pool's rules give this login."
            )
        elif matching:
            chosen = matching[0]
    if chosen is None:
        if mapping.get("AmbiguousRoleResolution") == "Deny":
            raise NotAuthorized(
                f"No role mapping of {login.provider} matches this login and the pool denies "
                "ambiguous logins (AmbiguousRoleResolution Deny)."
            )
        if pool.authenticated_role is None:
            raise _invalid_configuration()
        return pool.authenticated_role
    role = selectors.role_view(chosen)
    if role is None:
        raise _invalid_configuration()
    return role


def authenticated_credentials_issue(
    *,
    identity: Identity,
    pool: PoolView,
    logins: list[VerifiedLogin],
    custom_role_arn: str | None = None,
) -> TemporaryCredentials:
    """Credentials for an identity that signed in (GetCredentialsForIdentity with Logins)."""
    role = role_for_logins(pool, logins, custom_role_arn)
    amr = amr_for(logins)
    if not role_trusts(role, pool_id=pool.id, identity_id=identity.id, amr=amr):
        raise _invalid_configuration()
    identity_touch(identity)
    return credentials.credentials_issue(
        identity_id=identity.id,
        pool_id=pool.id,
        role_arn=role.arn,
        role_id=role.role_id,
        amr=amr,
        duration=min(settings.COGNATE_CREDENTIALS_LIFETIME, role.max_session_duration),
        principal_tags=principal_tags_for(pool, logins),
    )


def authenticated_openid_token_issue(
    *, identity: Identity, pool: PoolView, logins: list[VerifiedLogin]
) -> str:
    """The OpenID token of an identity that signed in (GetOpenIdToken with Logins)."""
    _check_classic_flow(pool)
    identity_touch(identity)
    return tokens.openid_token_issue(
        identity_id=identity.id,
        pool_id=pool.id,
        amr=amr_for(logins),
        lifetime=settings.COGNATE_OPENID_TOKEN_LIFETIME,
        extra_claims=tags_claim(principal_tags_for(pool, logins)),
    )


# --- Operator access keys and signing keys ----------------------------------------------------
KEY_SECRET_PURPOSE = "cognate.access-key-secret"


@transaction.atomic
def access_key_create(
    *, user, description: str = "", pools: list[IdentityPool] | None = None
) -> tuple[AccessKey, str]:
    """A new access key for a staff user; the secret is returned once and kept encrypted."""
    if not (user.is_active and user.is_staff):
        raise ValueError(f"{user} must be an active staff user to hold access keys.")
    secret = secrets.token_urlsafe(30)
    key = AccessKey.objects.create(
        access_key_id=crypto.random_id("AKIA"),
        secret_encrypted=crypto.seal(KEY_SECRET_PURPOSE, secret.encode()),
        user=user,
        description=description,
    )
    if pools:
        key.pools.set(pools)
    return key, secret


def access_key_secret(key: AccessKey) -> str:
    return crypto.open_sealed(KEY_SECRET_PURPOSE, key.secret_encrypted).decode()


@transaction.atomic
def access_key_deactivate(*, key: AccessKey) -> None:
    key.is_active = False
    key.save(update_fields=["is_active"])


def access_key_touch(*, key: AccessKey) -> None:
    """Note when a key was last used (at most once a minute per key)."""
    at = timezone.now()
    if key.last_used is None or (at - key.last_used).total_seconds() > 60:
        AccessKey.objects.filter(pk=key.pk).update(last_used=at)


@transaction.atomic
def signing_key_create(*, at: datetime | None = None) -> SigningKey:
    kid, sealed, jwk = tokens.generate_key_material()
    return SigningKey.objects.create(
        kid=kid, private_key_encrypted=sealed, public_jwk=jwk, created=at or timezone.now()
    )


def signing_key_current() -> SigningKey:
    """The newest key in service, made on first use."""
    key = SigningKey.objects.filter(retired__isnull=True).order_by("-created").first()
    return key or signing_key_create()


@transaction.atomic
def signing_key_rotate(*, at: datetime | None = None) -> SigningKey:
    """Put a new key in service; the old ones stay published until their tokens expire."""
    at = at or timezone.now()
    new = signing_key_create(at=at)
    SigningKey.objects.filter(retired__isnull=True).exclude(pk=new.pk).update(retired=at)
    tokens.forget_cached_keys()
    return new


# --- Developer-authenticated identities ----------------------------------------------------------
MAX_TOKEN_DURATION = 86400
DEFAULT_DEVELOPER_TOKEN_DURATION = 900


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


def developer_owner(pool: PoolView, identifier: str) -> Identity | None:
    """The identity (as it now lives) a developer user identifier belongs to."""
    owner = selectors.login_owners(pool.id, [(pool.developer_provider_name, identifier)])
    identity_id = owner.get((pool.developer_provider_name, identifier))
    if identity_id is None:
        return None
    return selectors.identity_survivor(selectors.identity_get(identity_id))


def developer_token_issue(
    *,
    pool: PoolView,
    logins: dict[str, str],
    identity_id: str | None = None,
    principal_tags: dict[str, str] | None = None,
    duration: int = DEFAULT_DEVELOPER_TOKEN_DURATION,
) -> tuple[Identity, str]:
    """GetOpenIdTokenForDeveloperIdentity: the identity of a user of the app's own account
    system (made on first sight, or the given identity, a guest upgraded), with any public
    logins of the same call linked, and an OpenID token for it."""
    name = developer_provider(pool)
    if name not in logins:
        raise InvalidParameter(
            f"Logins must hold the pool's developer provider name '{name}' with the user's "
            "identifier."
        )
    identifier = logins[name]
    if len(identifier) > 1024:
        raise InvalidParameter("A developer user identifier is at most 1024 characters.")
    if not 1 <= duration <= MAX_TOKEN_DURATION:
        raise InvalidParameter(f"TokenDuration must be 1 to {MAX_TOKEN_DURATION} seconds.")
    verified = logins_verify(pool, {k: v for k, v in logins.items() if k != name})
    developer = VerifiedLogin(provider=name, subject=identifier)
    if identity_id is not None:
        owner = developer_owner(pool, identifier)
        given = selectors.identity_survivor(selectors.identity_get(identity_id))
        if owner is not None and owner.id != given.id:
            raise DeveloperUserAlreadyRegistered(
                "Developer user identifier is already registered with Cognito under a "
                f"different identity ID ({owner.id})."
            )
    identity = identity_sign_in(
        pool=pool,
        logins=[developer, *verified],
        identity_id=identity_id,
        trigger="GetOpenIdTokenForDeveloperIdentity",
        trusted=True,
    )
    if principal_tags is not None:
        Identity.objects.filter(pk=identity.pk).update(principal_tags=principal_tags)
        identity.principal_tags = principal_tags
    amr = ["authenticated", name, f"{name}:{pool.id}:{identifier}"]
    amr += [entry for entry in amr_for(verified)[1:] if entry not in amr]
    tags = {**principal_tags_for(pool, verified), **(principal_tags or {})}
    token = tokens.openid_token_issue(
        identity_id=identity.id,
        pool_id=pool.id,
        amr=amr,
        lifetime=duration,
        extra_claims=tags_claim(tags),
    )
    identity_touch(identity)
    return identity, token


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


# --- The site's own identities (browser bootstrap, site accounts) --------------------------------
def site_pool() -> PoolView:
    return selectors.pool_view(settings.COGNATE_SITE_POOL_ID)


def site_guest(*, guest_id: str | None, address: str) -> Identity:
    """The browser's guest: the one its cookie names while it is still a guest of the site's
    pool, else a new one, within the same limits as GetId's (`guest_quota_take`)."""
    pool = site_pool()
    if guest_id:
        identity = Identity.objects.filter(
            id=guest_id, pool_id=pool.id, state=Identity.State.GUEST
        ).first()
        if identity is not None:
            return identity
    guest_quota_take(pool_id=pool.id, address=address)
    return identity_create_guest(pool=pool)


def site_user_identity(*, user, guest_id: str | None = None) -> Identity:
    """The identity of a user of the site (a developer login of the site's pool, the user's
    primary key as identifier). A guest the browser held is linked to it (the user's first
    sign-in: the guest becomes the user's identity) or merged into it."""
    pool = site_pool()
    name = developer_provider(pool)
    login = VerifiedLogin(provider=name, subject=str(user.pk))
    guest = None
    if guest_id:
        guest = Identity.objects.filter(
            id=guest_id, pool_id=pool.id, state=Identity.State.GUEST
        ).first()
    return identity_sign_in(
        pool=pool,
        logins=[login],
        identity_id=guest.id if guest else None,
        trigger="site sign-in",
        trusted=True,
    )


def site_token(*, identity: Identity, user=None) -> tuple[str, int]:
    """An OpenID token for the site's pages (the websocket, the Sync API): (token, lifetime)."""
    pool = site_pool()
    lifetime = settings.COGNATE_OPENID_TOKEN_LIFETIME
    if user is None:
        amr = ["unauthenticated"]
    else:
        name = developer_provider(pool)
        amr = ["authenticated", name, f"{name}:{pool.id}:{user.pk}"]
    identity_touch(identity)
    token = tokens.openid_token_issue(
        identity_id=identity.id, pool_id=pool.id, amr=amr, lifetime=lifetime
    )
    return token, lifetime


# --- Principal tags -----------------------------------------------------------------------------
TAGS_CLAIM = "https://aws.amazon.com/tags"


def tags_claim(tags: dict[str, str]) -> dict:
    """Principal tags as OpenID token claims (the AWS session-tags claim)."""
    if not tags:
        return {}
    return {TAGS_CLAIM: {"principal_tags": {key: [value] for key, value in tags.items()}}}


def tags_from_claims(claims: dict) -> dict[str, str]:
    tagged = claims.get(TAGS_CLAIM, {}).get("principal_tags", {})
    return {key: values[0] for key, values in tagged.items() if values}


def principal_tags_for(pool: PoolView, logins: list[VerifiedLogin]) -> dict[str, str]:
    """Principal tags from the logins' claims, as the pool's tag maps say."""
    tags: dict[str, str] = {}
    if not logins:
        return tags
    maps = {m.provider: m for m in PrincipalTagMap.objects.filter(pool_id=pool.id)}
    for login in logins:
        if login.identity_id:  # this server's token: its tags ride along
            tags.update(tags_from_claims(login.claims))
            continue
        tag_map = maps.get(login.provider)
        if tag_map is None:
            continue
        for key, claim in tag_map.mapping.items():
            value = login.claims.get(claim)
            if isinstance(value, list):
                value = value[0] if value else None
            if value is not None:
                tags[key] = str(value)
    return tags


@transaction.atomic
def principal_tag_map_set(
    *, pool: PoolView, provider: str, use_defaults: bool, tags: dict[str, str]
) -> PrincipalTagMap:
    tag_map, _ = PrincipalTagMap.objects.update_or_create(
        pool_id=pool.id, provider=provider, defaults={"use_defaults": use_defaults, "tags": tags}
    )
    return tag_map


# --- OpenID Connect providers (IAM) -------------------------------------------------------------
def oidc_url_checked(url: str) -> str:
    """An issuer URL as stored: https (http only where allowed), no query, no trailing /,
    not on an internal address (unless COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES allows it)."""
    allowed = ("https", "http") if settings.COGNATE_ALLOW_HTTP_ISSUERS else ("https",)
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018  (a port that is not a number raises here)
    except ValueError:
        raise InvalidParameter(f"Url {url!r} is not a valid URL.") from None
    if parts.scheme not in allowed or not parts.hostname or parts.query or parts.fragment:
        raise InvalidParameter(
            f"Url {url!r} must be an https:// issuer URL without query or fragment"
            + (
                "."
                if "http" in allowed
                else " (http:// is allowed only with "
                "COGNATE_ALLOW_HTTP_ISSUERS=true, for local development)."
            )
        )
    checked = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    why = outbound.refusal(checked, timeout=settings.COGNATE_PROVIDER_TIMEOUT)
    if why:
        raise InvalidParameter(f"Url {checked} is refused: {why}.")
    return checked


@transaction.atomic
def oidc_provider_create(
    *, url: str, client_ids: list[str], thumbprints: list[str], tags: list[dict]
) -> OidcProvider:
    url = oidc_url_checked(url)
    key = url.split("://", 1)[1]
    if selectors.oidc_provider_by_key(key) is not None:
        raise EntityAlreadyExists(f"Provider with url {url} already exists.")
    return OidcProvider.objects.create(
        url=url, client_ids=list(dict.fromkeys(client_ids)), thumbprints=thumbprints, tags=tags
    )


@transaction.atomic
def oidc_provider_delete(*, provider: OidcProvider) -> None:
    provider.delete()


@transaction.atomic
def oidc_provider_client_ids_set(*, provider: OidcProvider, client_ids: list[str]) -> None:
    provider.client_ids = list(dict.fromkeys(client_ids))
    provider.save(update_fields=["client_ids"])
