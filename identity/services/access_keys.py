"""Operator access keys: an access key id and a secret per staff user, the secret kept sealed
and shown once; SigV4-signed developer calls use them (identity/auth.py)."""

import secrets

from django.db import transaction
from django.utils import timezone

from identity import crypto
from identity.models import AccessKey, IdentityPool

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
    """The key's secret, opened once per loaded key (keys live in process memory with the
    pool configuration, so a signed call does not decrypt it again)."""
    opened = key.__dict__.get("_secret_opened")
    if opened is None or opened[0] != key.secret_encrypted:
        opened = (
            key.secret_encrypted,
            crypto.open_sealed(KEY_SECRET_PURPOSE, key.secret_encrypted).decode(),
        )
        key.__dict__["_secret_opened"] = opened
    return opened[1]


@transaction.atomic
def access_key_deactivate(*, key: AccessKey) -> None:
    key.is_active = False
    key.save(update_fields=["is_active"])


def access_key_touch(*, key: AccessKey) -> None:
    """Note when a key was last used (at most once a minute per key)."""
    at = timezone.now()
    if key.last_used is None or (at - key.last_used).total_seconds() > 60:
        AccessKey.objects.filter(pk=key.pk).update(last_used=at)
        key.last_used = at  # the same object serves the key's next calls (selectors)
