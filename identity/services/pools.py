"""Identity pools and what they are configured with: their roles (two default ones made with
each pool), tags, principal tag maps, and the OpenID Connect providers they may trust (the
IAM subset)."""

from typing import Any
from urllib.parse import urlsplit

import regex
from django.conf import settings
from django.db import transaction
from django.db.models import Field
from django.utils import timezone

from aws.errors import EntityAlreadyExists, InvalidParameter
from identity import credentials, crypto, hooks, outbound, selectors
from identity.credentials import GONE
from identity.models import Identity, IdentityPool, OidcProvider, PrincipalTagMap, Role
from identity.roles import default_access_policy, default_trust_policy, role_arn_for
from identity.selectors import PoolView
from identity.services.base import config_changed, new_identity_id


# --- Roles ------------------------------------------------------------------------------------
def role_create(
    *,
    name: str,
    trust_policy: dict,
    policy: dict,
    pool: IdentityPool | None = None,
    description: str = "",
    max_session_duration: int = 3600,
) -> Role:
    config_changed()
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
    config_changed()
    return role


@transaction.atomic
def role_delete(*, role: Role) -> None:
    """Delete a role; pools that used it have no role of that kind until one is set."""
    role.delete()
    config_changed()


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
    unknown = set(config) - set(IdentityPool.CONFIG_FIELDS)
    if unknown:
        raise TypeError(f"unknown pool fields {unknown}")
    _check_tags(config.get("tags", {}))
    pool = IdentityPool.objects.create(id=pool_id or new_identity_id(), name=name, **config)
    _default_roles_create(pool)
    config_changed()
    return pool


def _config_defaults() -> dict[str, Any]:
    """What UpdateIdentityPool leaves a field it omits: the model's default (the name and
    AllowUnauthenticatedIdentities are always given; DeveloperProviderName stays)."""
    given = {"name", "allow_unauthenticated", "developer_provider_name"}
    defaults = {}
    for name in IdentityPool.CONFIG_FIELDS:
        field = IdentityPool._meta.get_field(name)
        if name not in given and isinstance(field, Field):
            defaults[name] = field.get_default()
    return defaults


@transaction.atomic
def pool_update(*, pool: IdentityPool, **config: Any) -> IdentityPool:
    """Replace the pool's whole configuration (reference §2.1: omitted fields revert to their
    defaults), except DeveloperProviderName, which cannot change once set."""
    unknown = set(config) - set(IdentityPool.CONFIG_FIELDS)
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
    for field, value in {**_config_defaults(), **config}.items():
        setattr(pool, field, value)
    pool.developer_provider_name = pool.developer_provider_name or developer
    pool.modified = timezone.now()
    pool.save()
    config_changed()
    return pool


@transaction.atomic
def pool_developer_provider_set(*, pool: IdentityPool, name: str) -> None:
    """Give a pool its developer provider name (only once: it cannot change)."""
    pool = IdentityPool.objects.select_for_update().get(pk=pool.pk)
    if pool.developer_provider_name and pool.developer_provider_name != name:
        raise InvalidParameter("DeveloperProviderName cannot be changed once set.")
    pool.developer_provider_name = name
    pool.save(update_fields=["developer_provider_name"])
    config_changed()


@transaction.atomic
def pool_delete(*, pool: IdentityPool) -> None:
    """Delete a pool, its identities and their data; their credentials stop working."""
    pool_id = pool.id
    hooks.deleted(
        identity_ids=list(Identity.objects.filter(pool=pool).values_list("id", flat=True))
    )
    pool.delete()
    config_changed()
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
    config_changed()


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
    config_changed()


@transaction.atomic
def pool_untag(*, pool: IdentityPool, keys: list[str]) -> None:
    pool = IdentityPool.objects.select_for_update().get(pk=pool.pk)
    pool.tags = {k: v for k, v in pool.tags.items() if k not in set(keys)}
    pool.save(update_fields=["tags"])
    config_changed()


# --- Principal tag maps -------------------------------------------------------------------------
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
