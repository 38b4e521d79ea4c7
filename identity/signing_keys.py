"""The keys that sign OpenID tokens (identity/tokens.py): made on first use, kept in the
database with their private parts sealed, rotated, retired and deleted once no token they
signed can still be valid; and this process's cache of them."""

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from identity import crypto, selectors
from identity.models import SigningKey

KEY_PURPOSE = "cognate.signing-key"
ALGORITHM = "RS512"
_CURRENT_KEY_TTL = 60.0


# --- Keys in the database ----------------------------------------------------------------------
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


@transaction.atomic
def signing_key_create(*, at: datetime | None = None) -> SigningKey:
    kid, sealed, jwk = generate_key_material()
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
    forget_cached_keys()
    return new


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


# --- This process's cache ----------------------------------------------------------------------
@dataclass
class _KeyCache:
    current: tuple[float, str, Any] | None = None  # (loaded at, kid, private key)


_cache = _KeyCache()
_public_keys: dict[str, Any] = {}
_lock = threading.Lock()


def _private_key(row: SigningKey):
    pem = crypto.open_sealed(KEY_PURPOSE, row.private_key_encrypted)
    return serialization.load_pem_private_key(pem, password=None)


def current_private_key(now: float) -> tuple[str, Any]:
    """(kid, private key) of the key in service, from memory for a minute at most."""
    with _lock:
        if _cache.current and now - _cache.current[0] < _CURRENT_KEY_TTL:
            return _cache.current[1], _cache.current[2]
    row = signing_key_current()
    key = _private_key(row)

    def remember() -> None:
        with _lock:
            _cache.current = (now, row.kid, key)

    # Remembered once committed: a key made on first use in a transaction that then rolls
    # back would sign tokens nobody can verify.
    transaction.on_commit(remember)
    return row.kid, key


def public_key(kid: str):
    """The public key of `kid`, if it is one of this server's keys."""
    if kid in _public_keys:
        return _public_keys[kid]
    row = selectors.signing_key_by_kid(kid)
    if row is None:
        return None
    key = jwt.PyJWK(row.public_jwk).key
    _public_keys[kid] = key
    return key


def forget_cached_keys() -> None:
    """Drop this process's cached keys (after a rotation made here)."""
    with _lock:
        _cache.current = None
        _public_keys.clear()
