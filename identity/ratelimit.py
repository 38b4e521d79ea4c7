"""Fixed-window counters in the shared cache: how many times something happened for a key
in the current window (on Redis one round trip per count); and the client address such
limits are counted by."""

import ipaddress
import time

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

# Windows this process has seen spent: (scope, key, limit, window) -> when the window ends.
# A fixed window's count only grows until it ends, so a spent window stays spent and later
# hits are refused from memory, without a cache call.
_spent: dict[tuple[str, str, int, int], float] = {}
_SPENT_MAX = 10_000


def hit(scope: str, key: str, *, limit: int, window: int) -> tuple[bool, int]:
    """Count one more event; (allowed, seconds until the window ends)."""
    left = spent(scope, key, limit=limit, window=window)
    if left is not None:
        return False, left
    now = time.time()
    bucket = int(now // window)
    count = _counted(f"rate:{scope}:{key}:{bucket}", timeout=window + 5)
    if count > limit:
        _remember(scope, key, limit, window, ends=(bucket + 1) * window)
    return count <= limit, int(window - now % window) + 1


def counter_add(backend: RedisCache, key: str, delta: int, timeout: float) -> int:
    """Add to an integer kept in Redis under `key` (made at 0 if missing), keep it
    `timeout` seconds from now, and return the new value: one round trip (INCRBY and EXPIRE
    in a pipeline); the count is atomic across processes."""
    name = backend.make_and_validate_key(key)
    # The shared client of config.cache (RedisCache._cache is not in the type stubs).
    client = backend._cache.get_client(name, write=True)  # type: ignore[attr-defined]
    with client.pipeline(transaction=False) as pipe:  # no MULTI/EXEC: INCRBY is atomic
        pipe.incrby(name, delta)
        pipe.expire(name, int(timeout))
        value, _ = pipe.execute()
    return int(value)


def _counted(name: str, *, timeout: int) -> int:
    """One more in the window's counter: on Redis one round trip; elsewhere an add and an
    increment (the file cache's are not atomic across threads: guest_limits counts in one
    thread per process)."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return counter_add(backend, name, 1, timeout)
    cache.add(name, 0, timeout)
    try:
        return cache.incr(name)
    except ValueError:  # the entry expired between add and incr
        cache.set(name, 1, timeout)
        return 1


# Counts one event in each window in turn and stops at the first that is over its limit (it
# is counted there, as `hit` counts it): KEYS the windows' counters, ARGV limit and expiry of
# each. Returns the 1-based position of the window over its limit, or 0.
_HITS = """
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  redis.call('EXPIRE', key, tonumber(ARGV[2 * i]))
  if count > tonumber(ARGV[2 * i - 1]) then return i end
end
return 0
"""
_hits_scripts: dict[int, object] = {}


def hit_each(windows: list[tuple[str, str, int, int]]) -> tuple[int | None, int]:
    """`hit` for each (scope, key, limit, window) in order until one refuses: (the position
    of the refusing window or None, seconds until it ends). On Redis all of them in one
    round trip; a window this process already saw spent refuses before any is counted."""
    backend = caches["default"]
    for position, (scope, key, limit, window) in enumerate(windows):
        left = spent(scope, key, limit=limit, window=window)
        if left is not None:
            refused, retry = hit_each(windows[:position]) if position else (None, 0)
            return (refused, retry) if refused is not None else (position, left)
    if not isinstance(backend, RedisCache):
        for position, (scope, key, limit, window) in enumerate(windows):
            allowed, retry = hit(scope, key, limit=limit, window=window)
            if not allowed:
                return position, retry
        return None, 0
    now = time.time()
    names, arguments = [], []
    for scope, key, limit, window in windows:
        names.append(backend.make_and_validate_key(f"rate:{scope}:{key}:{int(now // window)}"))
        arguments += [limit, window + 5]
    # The shared client of config.cache (RedisCache._cache is not in the type stubs).
    client = backend._cache.get_client(names[0], write=True)  # type: ignore[attr-defined]
    script = _hits_scripts.get(id(client))
    if script is None:
        script = _hits_scripts[id(client)] = client.register_script(_HITS)
    over = int(script(keys=names, args=arguments))  # type: ignore[operator]
    if not over:
        return None, 0
    scope, key, limit, window = windows[over - 1]
    ends = (int(now // window) + 1) * window
    _remember(scope, key, limit, window, ends=ends)
    return over - 1, int(window - now % window) + 1


def spent(scope: str, key: str, *, limit: int, window: int) -> int | None:
    """Seconds until the window ends if this process already saw it spent, else None. Only
    memory is read: it may be called on the event loop."""
    ends = _spent.get((scope, key, limit, window))
    now = time.time()
    if ends is None or ends <= now:
        return None
    return int(ends - now) + 1


def _remember(scope: str, key: str, limit: int, window: int, *, ends: float) -> None:
    if len(_spent) >= _SPENT_MAX:
        now = time.time()
        for name, until in list(_spent.items()):
            if until <= now:
                _spent.pop(name, None)
        if len(_spent) >= _SPENT_MAX:
            _spent.clear()
    _spent[(scope, key, limit, window)] = ends


def client_address(peer: str, forwarded_for: str | None) -> str:
    """The address a request counts against: the peer's, or, behind
    COGNATE_TRUSTED_PROXY_HOPS proxies, the X-Forwarded-For entry the outermost of them
    added. An IPv6 client counts by its /64, since one host may hold all of it."""
    hops = settings.COGNATE_TRUSTED_PROXY_HOPS
    address = peer
    if hops > 0 and forwarded_for:
        entries = [entry.strip() for entry in forwarded_for.split(",") if entry.strip()]
        if entries:
            address = entries[-min(hops, len(entries))]
    parsed = _parse_address(address)
    if parsed is None:  # not an address (a proxy that writes something else): the peer
        parsed = _parse_address(peer)
    if parsed is None:
        return peer
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def _parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address, with or without a port ("192.0.2.1:4711", "[2001:db8::1]:4711")."""
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
