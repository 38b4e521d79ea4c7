"""Fixed-window counters in the shared cache: how many times something happened for a key
in the current window."""

import time

from django.core.cache import cache


def hit(scope: str, key: str, *, limit: int, window: int) -> tuple[bool, int]:
    """Count one more event; (allowed, seconds until the window ends)."""
    now = time.time()
    bucket = int(now // window)
    name = f"rate:{scope}:{key}:{bucket}"
    cache.add(name, 0, window + 5)
    try:
        count = cache.incr(name)
    except ValueError:  # the entry expired between add and incr
        cache.set(name, 1, window + 5)
        count = 1
    return count <= limit, int(window - now % window) + 1
