"""Usage figures for the operator's dashboard: syncs per pool per day, and open sockets.

Syncs are counted in each process's memory as they happen, added to a counter in the cache
by a timer a second later (one round trip per second and process, not one per update), and
moved into DailyUsage rows by the `usage_flush` job every few minutes; the dashboard adds the
counts not yet moved. Open sockets are counted per process and published to the cache, where the
dashboard sums the live processes' figures (docs/operations.md says how exact that is)."""

import atexit
import logging
import os
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, date, timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from identity.models import IdentityPool
from identity.ratelimit import counter_add
from syncstore.models import DailyUsage

logger = logging.getLogger(__name__)

# --- Syncs per day ------------------------------------------------------------------------------
# A day's counter stays in the cache this long: the flush job must run at least once in that
# time (beat runs it every 5 minutes; without beat, `manage.py run_jobs` from cron).
COUNTER_DAYS = 8
COUNTER_TIMEOUT = COUNTER_DAYS * 86400
_counter_lock = threading.Lock()


def _today() -> date:
    return timezone.now().astimezone(UTC).date()


def _syncs_key(pool_id: str, day: date) -> str:
    return f"usage:syncs:{pool_id}:{day.isoformat()}"


def _counter_add(key: str, delta: int) -> int:
    """Add to an integer kept in the cache and return the new value. On Redis one INCRBY
    (atomic across processes) with its expiry, in one round trip; the file and memory caches
    have no atomic increment, so there it is a read and a write under this process's lock."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return counter_add(backend, key, delta, COUNTER_TIMEOUT)
    with _counter_lock:
        value = int(backend.get(key) or 0) + delta
        backend.set(key, value, COUNTER_TIMEOUT)
        return value


# Counts not yet added to the cache, per (pool, day): the timer adds them PUSH_AFTER seconds
# after the first one, the flush job and the dashboard of this process at once, and the
# process as it exits. A process killed outright loses at most its last second of counts.
PUSH_AFTER = 1.0
_pending: Counter[tuple[str, date]] = Counter()
_pending_lock = threading.Lock()
_push_timer: list[threading.Timer] = []


def sync_counted(*, pool_id: str) -> None:
    """Count one successful update of the pool today (UTC). Called after commit."""
    with _pending_lock:
        _pending[(pool_id, _today())] += 1
        if not _push_timer:
            timer = threading.Timer(PUSH_AFTER, pending_push)
            timer.daemon = True
            _push_timer.append(timer)
            timer.start()


def pending_push() -> None:
    """Add this process's pending counts to the cache's counters."""
    with _pending_lock:
        taken = dict(_pending)
        _pending.clear()
        _push_timer.clear()
    for (pool_id, day), syncs in taken.items():
        try:
            _counter_add(_syncs_key(pool_id, day), syncs)
        except Exception:
            # The updates are committed and their devices told; a cache outage must not
            # turn them into errors. They are counted again at the next push.
            logger.exception("could not count %d syncs of pool %s", syncs, pool_id)
            with _pending_lock:
                _pending[(pool_id, day)] += syncs


def _forget_pending_in_child() -> None:
    # A forked child has no timer thread and must not count its parent's syncs again.
    _pending.clear()
    _push_timer.clear()


atexit.register(pending_push)
os.register_at_fork(after_in_child=_forget_pending_in_child)


def _unflushed(pairs: list[tuple[str, date]]) -> dict[tuple[str, date], int]:
    keys = {_syncs_key(pool_id, day): (pool_id, day) for pool_id, day in pairs}
    found: dict[tuple[str, date], int] = {}
    names = list(keys)
    for start in range(0, len(names), 1000):
        for key, value in caches["default"].get_many(names[start : start + 1000]).items():
            if value:
                found[keys[key]] = int(value)
    return found


def usage_flush() -> dict:
    """Move the cache's sync counters into DailyUsage. Safe to run twice or at once in two
    workers: each count read is taken off its counter (atomically on Redis) in the
    transaction that adds it to the row, so the row plus the counter always hold the total."""
    pending_push()
    today = _today()
    days = [today - timedelta(days=back) for back in range(COUNTER_DAYS)]
    pool_ids = list(IdentityPool.objects.values_list("id", flat=True))
    counts = _unflushed([(pool_id, day) for pool_id in pool_ids for day in days])
    moved = 0
    for (pool_id, day), syncs in sorted(counts.items()):
        with transaction.atomic():
            row, _ = DailyUsage.objects.get_or_create(pool_id=pool_id, day=day)
            DailyUsage.objects.filter(pk=row.pk).update(syncs=F("syncs") + syncs)
            _counter_add(_syncs_key(pool_id, day), -syncs)
        moved += syncs
    return {"syncs": moved, "pool_days": len(counts)}


def syncs_per_day(pool_id: str, *, days: int = 30) -> list[tuple[date, int]]:
    """The pool's syncs for each of the last `days` days (UTC), oldest first: the flushed
    rows plus the counts still in the cache (this process's pushed there first)."""
    pending_push()
    today = _today()
    wanted = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
    rows = dict(
        DailyUsage.objects.filter(pool_id=pool_id, day__gte=wanted[0]).values_list("day", "syncs")
    )
    recent = [day for day in wanted if day > today - timedelta(days=COUNTER_DAYS)]
    pending = _unflushed([(pool_id, day) for day in recent])
    return [(day, rows.get(day, 0) + pending.get((pool_id, day), 0)) for day in wanted]


# --- Open sockets -------------------------------------------------------------------------------
# Each process keeps its own count of authenticated sockets per pool and writes the whole
# snapshot to one cache key when it changes (and at least every SOCKETS_REFRESH seconds while
# sockets are open and talking). A registry key lists the processes; the dashboard sums the
# snapshots that have not expired. A process that dies stops counting when its key expires.
PROCESS = uuid.uuid4().hex
SOCKETS_REFRESH = 30.0
REGISTRY_KEY = "usage:sockets:processes"
_open: Counter[str] = Counter()
_state = {"publishing": False, "dirty": False, "published": 0.0, "registered": 0.0}
_write_lock = threading.Lock()


def _sockets_key(process: str) -> str:
    return f"usage:sockets:{process}"


def _sockets_timeout() -> float:
    # Every open socket either sends something within the idle timeout or is closed (which
    # publishes), so a live process with sockets refreshes its key well within this.
    return settings.SYNC_WS_IDLE_TIMEOUT + 2 * SOCKETS_REFRESH


def _sockets_write(counts: dict[str, int]) -> None:
    cache = caches["default"]
    timeout = _sockets_timeout()
    with _write_lock:
        cache.set(_sockets_key(PROCESS), counts, timeout)
        now = time.time()
        if now - _state["registered"] >= SOCKETS_REFRESH:
            # Read, add, write: two processes registering at once may lose one entry, which
            # comes back at that process's next refresh.
            registry = {
                process: seen
                for process, seen in (cache.get(REGISTRY_KEY) or {}).items()
                if seen > now - timeout
            }
            registry[PROCESS] = now
            cache.set(REGISTRY_KEY, registry, 2 * timeout)
            _state["registered"] = now


async def _sockets_publish() -> None:
    """Write this process's snapshot; a change made while a write is under way is written
    right after it, by the same caller, so the last write is always the latest snapshot."""
    if _state["publishing"]:
        _state["dirty"] = True
        return
    _state["publishing"] = True
    try:
        while True:
            _state["dirty"] = False
            _state["published"] = time.monotonic()
            try:
                await sync_to_async(_sockets_write, thread_sensitive=False)(dict(_open))
            except Exception:
                logger.exception("could not publish the socket counts")  # figures only
                return
            if not _state["dirty"]:
                return
    finally:
        _state["publishing"] = False


async def socket_opened(*, pool_id: str) -> None:
    _open[pool_id] += 1
    await _sockets_publish()


async def socket_closed(*, pool_id: str) -> None:
    _open[pool_id] -= 1
    if _open[pool_id] <= 0:
        del _open[pool_id]
    await _sockets_publish()


async def sockets_refresh() -> None:
    """Called on every message from a device: rewrite the snapshot if it is getting old."""
    if _open and time.monotonic() - _state["published"] >= SOCKETS_REFRESH:
        await _sockets_publish()


def pool_sockets(pool_id: str) -> int:
    """Authenticated sockets of the pool open now, summed over the processes that published
    in the last few minutes."""
    cache = caches["default"]
    registry = cache.get(REGISTRY_KEY) or {}
    since = time.time() - 2 * _sockets_timeout()
    alive = [process for process, seen in registry.items() if seen > since]
    if PROCESS not in alive:
        alive.append(PROCESS)
    snapshots = cache.get_many([_sockets_key(process) for process in alive])
    return sum(counts.get(pool_id, 0) for counts in snapshots.values())
