"""Temporary credentials (AccessKeyId, SecretKey, SessionToken, Expiration).

They are self-contained: the session token seals the secret, the identity, the pool, the
role, the session policy and the expiry, so a signed request is verified without reading
the database. Revocation is a per-identity "not before" time, kept in the cache (and in the
database, which fills the cache when it has forgotten), and pushed to every process on Redis
(identity.revocations), so that a check usually costs no round trip.
"""

import json
import secrets
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache

from identity import clock, crypto, revocations
from identity.selectors import identity_revoked_before

_PURPOSE = "cognate.session-token"


@dataclass(frozen=True)
class Session:
    """What a session token says about its holder."""

    access_key_id: str
    secret_key: str
    identity_id: str
    pool_id: str
    role_arn: str
    role_id: str
    session_name: str
    amr: list[str]
    issued_at: float
    expires_at: float
    session_policy: dict | None = field(default=None)
    principal_tags: dict[str, str] = field(default_factory=dict)

    @property
    def authenticated(self) -> bool:
        return "authenticated" in self.amr

    @property
    def arn(self) -> str:
        role_name = self.role_arn.rpartition("/")[2]
        return (
            f"arn:aws:sts::{settings.COGNATE_ACCOUNT_ID}:assumed-role/"
            f"{role_name}/{self.session_name}"
        )


@dataclass(frozen=True)
class TemporaryCredentials:
    access_key_id: str
    secret_key: str
    session_token: str
    expiration: float
    session: Session


def credentials_issue(
    *,
    identity_id: str,
    pool_id: str,
    role_arn: str,
    role_id: str,
    amr: list[str],
    duration: int,
    session_name: str = "CognitoIdentityCredentials",
    session_policy: dict | None = None,
    principal_tags: dict[str, str] | None = None,
    now: float | None = None,
) -> TemporaryCredentials:
    issued_at = clock.now() if now is None else now
    session = Session(
        access_key_id=crypto.random_id("ASIA"),
        secret_key=secrets.token_urlsafe(30),
        identity_id=identity_id,
        pool_id=pool_id,
        role_arn=role_arn,
        role_id=role_id,
        session_name=session_name,
        amr=amr,
        issued_at=issued_at,
        expires_at=issued_at + duration,
        session_policy=session_policy,
        principal_tags=principal_tags or {},
    )
    payload = {
        "k": session.access_key_id,
        "s": session.secret_key,
        "i": identity_id,
        "p": pool_id,
        "r": role_arn,
        "ri": role_id,
        "n": session_name,
        "a": amr,
        "t": issued_at,
        "e": session.expires_at,
    }
    if session_policy is not None:
        payload["P"] = session_policy
    if principal_tags:
        payload["g"] = principal_tags
    token = crypto.seal(_PURPOSE, json.dumps(payload, separators=(",", ":")).encode())
    return TemporaryCredentials(
        access_key_id=session.access_key_id,
        secret_key=session.secret_key,
        session_token=token,
        expiration=session.expires_at,
        session=session,
    )


class SessionRefused(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind  # "invalid" | "expired" | "revoked"
        self.message = message


@lru_cache(maxsize=4096)
def _unsealed(session_token: str) -> dict:
    """A token's payload: decrypted once per process for the calls that present it again (a
    device signs every call with the same token for its lifetime). Only genuine tokens are
    kept (a refusal raises, and lru_cache keeps no exceptions); expiry and revocation are
    checked on every call. Callers must not change the dict."""
    return json.loads(crypto.open_sealed(_PURPOSE, session_token))


def session_open(access_key_id: str, session_token: str, *, now: float | None = None) -> Session:
    """The session a token describes, if the token is genuine, belongs to `access_key_id`,
    has not expired and has not been revoked; else `SessionRefused`."""
    now = clock.now() if now is None else now
    try:
        payload = _unsealed(session_token)
    except (crypto.InvalidToken, ValueError):
        raise SessionRefused(
            "invalid", "The security token included in the request is invalid."
        ) from None
    if payload["k"] != access_key_id:
        raise SessionRefused("invalid", "The security token included in the request is invalid.")
    if now >= payload["e"]:
        raise SessionRefused("expired", "The security token included in the request is expired")
    session = Session(
        access_key_id=payload["k"],
        secret_key=payload["s"],
        identity_id=payload["i"],
        pool_id=payload["p"],
        role_arn=payload["r"],
        role_id=payload["ri"],
        session_name=payload["n"],
        amr=payload["a"],
        issued_at=payload["t"],
        expires_at=payload["e"],
        session_policy=payload.get("P"),
        principal_tags=payload.get("g", {}),
    )
    if is_revoked(session.identity_id, session.pool_id, session.issued_at):
        raise SessionRefused(
            "revoked",
            "The security token included in the request has been revoked: the identity was "
            "disabled, merged, deleted or signed out by an operator. Get new credentials.",
        )
    return session


# --- Revocation -------------------------------------------------------------------------------
# The cache holds, per identity, the time before which its credentials and tokens are
# refused (0 for none, infinity once the identity is gone), and per deleted pool, infinity.
# A missing identity entry is filled from the database; a missing pool entry means the pool
# was not deleted (or its identities are gone from the database too).
GONE = float("inf")
_REVOCATION_TTL = 13 * 3600  # longer than any credential or token lives


def _identity_key(identity_id: str) -> str:
    return f"revoked-before:{identity_id}"


def _pool_key(pool_id: str) -> str:
    return f"pool-revoked-before:{pool_id}"


def revocation_remember(
    *, identity_id: str | None = None, pool_id: str | None = None, not_before: float
) -> None:
    keys = [_identity_key(identity_id)] if identity_id is not None else []
    keys += [_pool_key(pool_id)] if pool_id is not None else []
    for key in keys:
        cache.set(key, not_before, _REVOCATION_TTL)
        revocations.publish(key, not_before)


def is_revoked(identity_id: str, pool_id: str, issued_at: float) -> bool:
    """Whether credentials or a token issued at `issued_at` are revoked: from this
    process's memory while it hears every revocation (identity.revocations), else from the
    cache, filled from the database when it has forgotten."""
    identity_key, pool_key = _identity_key(identity_id), _pool_key(pool_id)
    revocations.feed.start()
    kept = revocations.feed.kept([identity_key, pool_key])
    if kept is not None:
        return issued_at < max(kept)
    epoch = revocations.feed.epoch
    found = cache.get_many([identity_key, pool_key])
    not_before = found.get(identity_key)
    if not_before is None:
        not_before = identity_revoked_before(identity_id)
        cache.set(identity_key, not_before, _REVOCATION_TTL)
    pool_not_before = found.get(pool_key, 0.0)
    revocations.feed.keep(epoch, {identity_key: not_before, pool_key: pool_not_before})
    return issued_at < max(not_before, pool_not_before)
