"""OpenID Connect logins: any issuer registered as an IAM OpenID Connect provider and named by
the pool's OpenIdConnectProviderARNs, and Google and Apple with their own issuers.

The issuer's discovery document and keys are fetched (through `identity.outbound`) and
cached; an unknown `kid` fetches the keys again (a provider rotated them). Keys on the
issuer's own origin are fetched under the same address rule as the issuer; keys on another
origin only from a public address. An issuer whose discovery document or keys cannot be used
(refused, too slow, too large, not JSON, no signing keys) is NotAuthorizedException naming it;
one that cannot be reached at all is ExternalServiceException.

`iss` must be the issuer whose Logins key was given, `azp` (when present) or `aud` one of the
client ids, `exp`/`nbf` within the allowed clock skew, and the signature RS256/384/512 or
ES256/384/512.
"""

import math
import threading
import time
from typing import Any

import jwt
from django.conf import settings

from identity import outbound
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
    """An issuer's discovery document and signing keys, fetched when needed. A failure to
    get them is remembered for COGNATE_PROVIDER_KEYS_REFETCH_AFTER seconds, so a broken or
    slow issuer is not asked again for every sign-in meanwhile."""

    def __init__(self, url: str):
        self.url = url
        self.jwks_uri: str | None = None
        self.discovered = -math.inf
        self.keys: list[jwt.PyJWK] = []
        self.keys_fetched = self.keys_tried = -math.inf
        self.failure: tuple[type[LoginRejected | ProviderUnavailable], str] | None = None
        self.failed = -math.inf
        self.lock = threading.Lock()

    def keys_for(self, kid: str | None, name: str) -> list:
        """The keys that may have signed a token: the one named by `kid` (fetching the
        keys again if it is unknown), or every signing key when the token names none."""
        cooldown = settings.COGNATE_PROVIDER_KEYS_REFETCH_AFTER
        with self.lock:
            now = time.monotonic()
            if self.failure is not None and now - self.failed < cooldown:
                kind, message = self.failure
                raise kind(message)
            try:
                if self.jwks_uri is None or now - self.discovered > DISCOVERY_TTL:
                    self._discover(name)
                if now - self.keys_fetched > DISCOVERY_TTL:
                    self._fetch_keys(name)
            except (LoginRejected, ProviderUnavailable) as error:
                self.failure, self.failed = (type(error), error.message), time.monotonic()
                raise
            self.failure = None
            found = self._signing(kid)
            # Unknown kids fetch the keys again (the issuer may have rotated them), but not
            # more often than the cooldown: made-up kids must not become a stream of fetches.
            # A failure here fails this token only; the keys in hand stay.
            if not found and kid is not None and now - self.keys_tried >= cooldown:
                self._fetch_keys(name)
                found = self._signing(kid)
        if not found:
            raise LoginRejected(
                "Invalid login token. The token is signed with a key the provider does not publish."
            )
        return [key.key for key in found]

    def keys_refetched(self, kid: str | None, name: str) -> list:
        """The keys fetched again, after a signature failed with those in hand (an issuer
        that replaced a key under the same kid); none within the cooldown of the last fetch."""
        with self.lock:
            if time.monotonic() - self.keys_tried < settings.COGNATE_PROVIDER_KEYS_REFETCH_AFTER:
                return []
            try:
                self._fetch_keys(name)
            except (LoginRejected, ProviderUnavailable):
                return []  # this token fails; the keys in hand stay
            return [key.key for key in self._signing(kid)]

    def _discover(self, name: str) -> None:
        where = f"{self.url}/.well-known/openid-configuration"
        status, config = get_json(name, where)
        jwks_uri = config.get("jwks_uri") if status == 200 and isinstance(config, dict) else None
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise LoginRejected(
                f"{name} has no usable discovery document at {where} (HTTP {status}, no jwks_uri)."
            )
        schemes = ("https", "http") if settings.COGNATE_ALLOW_HTTP_ISSUERS else ("https",)
        scheme, host, _ = outbound.origin(jwks_uri)
        if scheme not in schemes or not host:
            raise LoginRejected(
                f"{name} publishes its keys at {jwks_uri[:200]!r}, which is not an https:// URL."
            )
        if outbound.origin(jwks_uri) != outbound.origin(self.url):
            why = outbound.refusal(
                jwks_uri, allow_private=False, timeout=settings.COGNATE_PROVIDER_TIMEOUT
            )
            if why:
                raise LoginRejected(
                    f"{name} cannot be asked: its keys at {jwks_uri} are on another host than the "
                    "issuer, and keys on another host must be on a public address whatever "
                    f"{outbound.SETTING} says: {why}."
                )
        self.jwks_uri, self.discovered = jwks_uri, time.monotonic()

    def _fetch_keys(self, name: str) -> None:
        assert self.jwks_uri is not None
        uri = self.jwks_uri
        self.keys_tried = time.monotonic()
        # Keys on the issuer's own origin follow the setting, as the issuer does; keys
        # anywhere else are fetched from public addresses only.
        same_origin = outbound.origin(uri) == outbound.origin(self.url)
        status, body = get_json(name, uri, allow_private=None if same_origin else False)
        if status != 200 or not isinstance(body, dict):
            raise LoginRejected(f"{name} has no usable key set at {uri} (HTTP {status}).")
        try:
            published = jwt.PyJWKSet.from_dict(body).keys
        except jwt.PyJWKSetError:
            published = []
        keys = [key for key in published if key.algorithm_name in ALGORITHMS]
        if not any(key.public_key_use in ("sig", None) for key in keys):
            raise LoginRejected(f"{name} publishes no usable signing keys at {uri}.")
        self.keys, self.keys_fetched = keys, time.monotonic()

    def _signing(self, kid: str | None) -> list[jwt.PyJWK]:
        signing = [key for key in self.keys if key.public_key_use in ("sig", None)]
        return signing if kid is None else [key for key in signing if key.key_id == kid]


_issuers: dict[str, _Issuer] = {}
_issuers_lock = threading.Lock()


def _issuer(url: str) -> _Issuer:
    with _issuers_lock:
        return _issuers.setdefault(url, _Issuer(url))


def issuers_forget() -> None:
    """Forget every issuer's discovery document, keys and failures."""
    with _issuers_lock:
        _issuers.clear()


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
    source = _issuer(issuers[0])
    candidates = source.keys_for(header.get("kid"), name)
    try:
        try:
            claims = _decode_with_any(token, candidates)
        except jwt.InvalidSignatureError:
            fresh = source.keys_refetched(header.get("kid"), name)
            if not fresh:
                raise
            claims = _decode_with_any(token, fresh)
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
            token,
            issuers=[registered.url],
            client_ids=registered.client_ids,
            name=f"The OpenID Connect provider {registered.url}",
        )
        return VerifiedLogin(provider=key, subject=str(claims["sub"]), claims=claims)


class _FixedIssuer(Provider):
    """An OpenID Connect provider with a well-known issuer (a setting, for tests)."""

    issuer_setting = ""

    def verify(self, key: str, token: str, pool: PoolView) -> VerifiedLogin:
        issuer = getattr(settings, self.issuer_setting).rstrip("/")
        bare = issuer.split("://", 1)[-1]
        claims = verify_id_token(
            token,
            issuers=[issuer, bare],
            client_ids=self.configured_ids(pool),
            name=f"{self.name} ({issuer})",
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
