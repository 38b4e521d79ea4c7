"""OpenID tokens: JWTs signed (RS512) with keys kept in the database, published as a JWKS
under the issuer URL. Claims follow Cognito: `iss` the issuer URL, `aud` the pool id, `sub`
the identity id, `amr`."""

import threading
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.db import transaction

from identity import clock, crypto
from identity.models import SigningKey
from identity.selectors import signing_key_by_kid, signing_keys_published

KEY_PURPOSE = "cognate.signing-key"
ALGORITHM = "RS512"
_CURRENT_KEY_TTL = 60.0


@dataclass
class _KeyCache:
    current: tuple[float, str, Any] | None = None  # (loaded at, kid, private key)


_UNVERIFIED: Any = {
    "verify_signature": False,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
}
_cache = _KeyCache()
_public_keys: dict[str, Any] = {}
_lock = threading.Lock()


def _private_key(row: SigningKey):
    pem = crypto.open_sealed(KEY_PURPOSE, row.private_key_encrypted)
    return serialization.load_pem_private_key(pem, password=None)


def _current_signing_key(now: float) -> tuple[str, Any]:
    with _lock:
        if _cache.current and now - _cache.current[0] < _CURRENT_KEY_TTL:
            return _cache.current[1], _cache.current[2]
    from identity.services import signing_key_current

    row = signing_key_current()
    key = _private_key(row)

    def remember() -> None:
        with _lock:
            _cache.current = (now, row.kid, key)

    # Remembered once committed: a key made on first use in a transaction that then rolls
    # back would sign tokens nobody can verify.
    transaction.on_commit(remember)
    return row.kid, key


def forget_cached_keys() -> None:
    """Drop this process's cached keys (after a rotation made here)."""
    with _lock:
        _cache.current = None
        _public_keys.clear()


def openid_token_issue(
    *,
    identity_id: str,
    pool_id: str,
    amr: list[str],
    lifetime: int,
    extra_claims: dict | None = None,
    now: float | None = None,
) -> str:
    now = clock.now() if now is None else now
    kid, key = _current_signing_key(now)
    claims = {
        "iss": settings.COGNATE_ISSUER_URL,
        "aud": pool_id,
        "sub": identity_id,
        "amr": amr,
        "iat": int(now),
        "exp": int(now) + lifetime,
        "https://cognito-identity.amazonaws.com/identity-pool-arn": (
            f"arn:aws:cognito-identity:{settings.COGNATE_REGION}:"
            f"{settings.COGNATE_ACCOUNT_ID}:identitypool/{pool_id}"
        ),
        **(extra_claims or {}),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid, "typ": "JWS"})


class TokenRejected(Exception):
    def __init__(self, kind: str, message: str, *, expired_at: float | None = None):
        super().__init__(message)
        self.kind = kind  # "malformed" | "foreign" | "signature" | "expired"
        self.message = message
        self.expired_at = expired_at


def _public_key(kid: str):
    if kid in _public_keys:
        return _public_keys[kid]
    row = signing_key_by_kid(kid)
    if row is None:
        return None
    key = jwt.PyJWK(row.public_jwk).key
    _public_keys[kid] = key
    return key


def is_own_token(token: str) -> bool:
    """Whether an (unverified) JWT names this server as its issuer."""
    try:
        claims = jwt.decode(token, options=_UNVERIFIED)
    except jwt.PyJWTError:
        return False
    return claims.get("iss") == settings.COGNATE_ISSUER_URL


def openid_token_claims(token: str, *, now: float | None = None) -> dict:
    """The claims of a token this server issued, once its signature and expiry check out."""
    now = clock.now() if now is None else now
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options=_UNVERIFIED)
    except jwt.PyJWTError:
        raise TokenRejected("malformed", "The ID Token provided is not a valid JWT.") from None
    if unverified.get("iss") != settings.COGNATE_ISSUER_URL:
        raise TokenRejected(
            "foreign",
            f"No OpenIDConnect provider found for the issuer {unverified.get('iss')!r}.",
        )
    key = _public_key(str(header.get("kid", "")))
    if key is None or header.get("alg") != ALGORITHM:
        raise TokenRejected("signature", "The token is not signed by a key of this issuer.")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={"verify_aud": False, "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        raise TokenRejected("signature", "The token's signature is not valid.") from None
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or not isinstance(claims.get("sub"), str):
        raise TokenRejected("malformed", "The token lacks the exp or sub claim.")
    if now >= exp:
        raise TokenRejected(
            "expired",
            f"Token expired: current date/time {int(now)} must be before the expiration "
            f"date/time {int(exp)}",
            expired_at=exp,
        )
    return claims


def jwks_document(now: float | None = None) -> dict:
    now = clock.now() if now is None else now
    return {"keys": [row.public_jwk for row in signing_keys_published(now=now)]}


def generate_key_material() -> tuple[str, str, dict]:
    """A new RSA key: (kid, sealed private PEM, public JWK)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    kid = f"{settings.COGNATE_REGION}-{crypto.random_id('', 10).lower()}"
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
    return kid, crypto.seal(KEY_PURPOSE, pem), jwk
