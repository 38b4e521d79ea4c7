"""OpenID Connect logins: any issuer registered as an IAM OpenID Connect provider and named by
the pool's OpenIdConnectProviderARNs, and Google and Apple with their own issuers.

The issuer's discovery document and keys are fetched and cached; an unknown `kid` fetches
the keys again (a provider rotated them). `iss` must be the issuer whose Logins key was given,
`azp` (when present) or `aud` one of the client ids, `exp`/`nbf` within the allowed clock
skew, and the signature RS256/384/512 or ES256/384/512.
"""

import threading
import time
from typing import Any

import jwt
from django.conf import settings

from identity.providers.base import (
    LoginRejected,
    Provider,
    ProviderUnavailable,
    VerifiedLogin,
    get_json,
)
from identity.selectors import PoolView, oidc_provider_by_key

ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"]
DISCOVERY_TTL = 3600.0
_UNVERIFIED: Any = {"verify_signature": False, "verify_exp": False, "verify_aud": False}


class _Issuer:
    """An issuer's discovery document and signing keys, fetched when needed."""

    def __init__(self, url: str):
        self.url = url
        self.fetched = 0.0
        self.keys: jwt.PyJWKClient | None = None
        self.lock = threading.Lock()

    def keys_for(self, kid: str | None, name: str) -> list:
        """The keys that may have signed a token: the one named by `kid` (fetching the
        keys again if it is unknown), or every signing key when the token names none."""
        with self.lock:
            if self.keys is None or time.monotonic() - self.fetched > DISCOVERY_TTL:
                status, config = get_json(name, f"{self.url}/.well-known/openid-configuration")
                if status != 200 or not isinstance(config, dict) or "jwks_uri" not in config:
                    raise ProviderUnavailable(
                        f"{name} has no usable discovery document at {self.url}."
                    )
                self.keys = jwt.PyJWKClient(
                    config["jwks_uri"],
                    cache_keys=True,
                    lifespan=int(DISCOVERY_TTL),
                    timeout=int(settings.COGNATE_PROVIDER_TIMEOUT) or 1,
                    # Unknown kids fetch the keys again, but not more often than this (a
                    # stream of made-up kids must not turn into a stream of fetches).
                    cooldown_duration=settings.COGNATE_PROVIDER_KEYS_REFETCH_AFTER,
                )
                self.fetched = time.monotonic()
            keys = self.keys
        try:
            if kid is None:
                return [key.key for key in keys.get_signing_keys()]
            return [keys.get_signing_key(kid).key]
        except jwt.PyJWKClientConnectionError:
            raise ProviderUnavailable(f"{name} did not send its signing keys.") from None
        except (jwt.PyJWKClientError, jwt.DecodeError):
            raise LoginRejected(
                "Invalid login token. The token is signed with a key the provider does not publish."
            ) from None


_issuers: dict[str, _Issuer] = {}
_issuers_lock = threading.Lock()


def _issuer(url: str) -> _Issuer:
    with _issuers_lock:
        return _issuers.setdefault(url, _Issuer(url))


def verify_id_token(token: str, *, issuers: list[str], client_ids: list[str], name: str) -> dict:
    """The claims of an id_token from one of `issuers` (the first is used for discovery),
    for one of `client_ids`; LoginRejected otherwise."""
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options=_UNVERIFIED)
    except jwt.PyJWTError:
        raise LoginRejected(
            "Invalid login token. Not a valid OpenId Connect identity token."
        ) from None
    if header.get("alg") not in ALGORITHMS:
        raise LoginRejected(
            f"Invalid login token. Tokens signed with {header.get('alg')!r} are not accepted; "
            f"use one of {', '.join(ALGORITHMS)}."
        )
    if unverified.get("iss") not in issuers:
        raise LoginRejected("Invalid login token. Issuer doesn't match providerName")
    candidates = _issuer(issuers[0]).keys_for(header.get("kid"), name)
    try:
        claims = _decode_with_any(token, candidates)
    except jwt.ExpiredSignatureError:
        raise LoginRejected("Invalid login token. Token expired.") from None
    except jwt.ImmatureSignatureError:
        raise LoginRejected("Invalid login token. Token is not valid yet (nbf).") from None
    except jwt.InvalidSignatureError:
        raise LoginRejected("Invalid login token. Couldn't verify signed token.") from None
    except jwt.PyJWTError as error:
        raise LoginRejected(f"Invalid login token. {error}") from None
    audience = claims.get("azp") or claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if not set(audiences) & set(client_ids):
        raise LoginRejected("Invalid login token. Incorrect token audience.")
    return claims


def _decode_with_any(token: str, keys: list) -> dict:
    for key in keys[:-1]:
        try:
            return _decode(token, key)
        except jwt.InvalidSignatureError:
            continue
    return _decode(token, keys[-1])


def _decode(token: str, key) -> dict:
    return jwt.decode(
        token,
        key,
        algorithms=ALGORITHMS,
        leeway=settings.COGNATE_PROVIDER_CLOCK_SKEW,
        options={"verify_aud": False, "require": ["exp", "iss", "sub"]},
    )


class OpenIdConnect(Provider):
    """Issuers registered with CreateOpenIDConnectProvider and named by the pool's
    OpenIdConnectProviderARNs. The Logins key is the issuer URL without its scheme."""

    name = "The OpenID Connect provider"

    def handles(self, key: str, pool: PoolView) -> bool:
        return any(
            arn.endswith(f":oidc-provider/{key}") for arn in pool.openid_connect_provider_arns
        )

    def verify(self, key: str, token: str, pool: PoolView) -> VerifiedLogin:
        registered = oidc_provider_by_key(key)
        if registered is None:
            raise LoginRejected(
                f"Invalid login token. The OpenID Connect provider {key} is not registered "
                "on this server (CreateOpenIDConnectProvider)."
            )
        claims = verify_id_token(
            token, issuers=[registered.url], client_ids=registered.client_ids, name=key
        )
        return VerifiedLogin(provider=key, subject=str(claims["sub"]), claims=claims)


class _FixedIssuer(Provider):
    """An OpenID Connect provider with a well-known issuer (a setting, for tests)."""

    issuer_setting = ""

    def verify(self, key: str, token: str, pool: PoolView) -> VerifiedLogin:
        issuer = getattr(settings, self.issuer_setting).rstrip("/")
        bare = issuer.split("://", 1)[-1]
        claims = verify_id_token(
            token, issuers=[issuer, bare], client_ids=self.configured_ids(pool), name=self.name
        )
        return VerifiedLogin(provider=key, subject=str(claims["sub"]), claims=claims)


class Google(_FixedIssuer):
    key = "accounts.google.com"
    name = "Google"
    issuer_setting = "COGNATE_GOOGLE_ISSUER"


class Apple(_FixedIssuer):
    key = "appleid.apple.com"
    name = "Sign in with Apple"
    issuer_setting = "COGNATE_APPLE_ISSUER"
