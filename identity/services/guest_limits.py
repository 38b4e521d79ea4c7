"""How many new guests a client address and a pool may have (GetId without Logins, the
browser bootstrap): counted in the cache only, so wire code may ask before the database
thread (identity/api/guests.py)."""

import regex
from django.conf import settings

from aws.errors import TooManyRequests
from identity import ratelimit

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
    limits = _guest_limits(pool_id, address)
    refused, retry = ratelimit.hit_each([limit[:4] for limit in limits])
    if refused is not None:
        _, _, limit, window, where = limits[refused]
        raise _too_many_guests(where, limit, window, retry)


def guest_quota_refusal(*, pool_id: str | None, address: str) -> TooManyRequests | None:
    """The refusal due to a new guest whose limit this process already saw spent in the
    current window; from memory alone, so a flood is refused at almost no cost."""
    for scope, key, limit, window, where in _guest_limits(pool_id, address):
        retry = ratelimit.spent(scope, key, limit=limit, window=window)
        if retry is not None:
            return _too_many_guests(where, limit, window, retry)
    return None
