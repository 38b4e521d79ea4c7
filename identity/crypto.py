"""Sealing (authenticated encryption) of small secrets with keys derived from SECRET_KEY, one
key per purpose, so a value sealed for one use never opens for another. SECRET_KEY_FALLBACKS
keep older values readable while SECRET_KEY rotates."""

import base64
import secrets
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

__all__ = ["InvalidToken", "open_sealed", "random_id", "seal"]

_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _derive(secret: str, purpose: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"cognate", info=purpose.encode()).derive(
        secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


@cache
def _fernet(purpose: str, secret: str, fallbacks: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([_derive(key, purpose) for key in (secret, *fallbacks)])


def _for(purpose: str) -> MultiFernet:
    return _fernet(purpose, settings.SECRET_KEY, tuple(settings.SECRET_KEY_FALLBACKS))


def seal(purpose: str, data: bytes) -> str:
    return _for(purpose).encrypt(data).decode("ascii")


def open_sealed(purpose: str, token: str) -> bytes:
    """Return the sealed bytes; raise `InvalidToken` if the token was not sealed by this
    deployment for this purpose, or was altered."""
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidToken from None
    return _for(purpose).decrypt(raw)


def random_id(prefix: str, length: int = 16) -> str:
    """An AWS-style key id such as `ASIA` followed by upper-case base32 characters."""
    return prefix + "".join(secrets.choice(_BASE32) for _ in range(length))
