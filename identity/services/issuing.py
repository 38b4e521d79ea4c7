"""What an identity is given: temporary credentials and OpenID tokens (for guests, for
identities signed in with logins, for developer user identifiers, for the site's own pages),
with their principal tags; and what one of this server's tokens lets its bearer do."""

from django.conf import settings

from aws.errors import DeveloperUserAlreadyRegistered, InvalidParameter
from identity import credentials, selectors, tokens
from identity.credentials import TemporaryCredentials
from identity.models import Identity, PrincipalTagMap
from identity.providers import VerifiedLogin
from identity.roles import (
    amr_for,
    invalid_configuration,
    role_for_identity,
    role_for_logins,
    role_trusts,
)
from identity.selectors import PoolView
from identity.services.guest_limits import guest_quota_take
from identity.services.identities import (
    identity_check_guest_access,
    identity_create_guest,
    identity_touch,
)
from identity.services.signin import (
    developer_owner,
    developer_provider,
    developer_sign_in,
    identity_sign_in,
    logins_verify,
)

MAX_TOKEN_DURATION = 86400
DEFAULT_DEVELOPER_TOKEN_DURATION = 900


# --- Guests and identities signed in with logins -----------------------------------------------
def token_session(claims: dict) -> credentials.Session:
    """What an OpenID token of this server lets its bearer do: the same role, checked the
    same way, as credentials from GetCredentialsForIdentity would carry."""
    pool = selectors.pool_view(str(claims.get("aud")))
    amr = [str(value) for value in claims.get("amr", [])]
    identity_id = claims["sub"]
    role = role_for_identity(pool, amr)
    if role is None or not role_trusts(role, pool_id=pool.id, identity_id=identity_id, amr=amr):
        raise invalid_configuration()
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
        raise invalid_configuration()
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
        raise invalid_configuration()
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


# --- Developer-authenticated identities ----------------------------------------------------------
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
    trigger = "GetOpenIdTokenForDeveloperIdentity"
    if identity_id is None and not verified:
        identity = developer_sign_in(pool, identifier, trigger=trigger)
    else:
        identity = identity_sign_in(
            pool=pool,
            logins=[developer, *verified],
            identity_id=identity_id,
            trigger=trigger,
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
    if guest is None:
        return developer_sign_in(pool, login.subject, trigger="site sign-in")
    return identity_sign_in(
        pool=pool, logins=[login], identity_id=guest.id, trigger="site sign-in", trusted=True
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
