"""Revocation times pushed to every process, so that checking one costs no round trip.

Every revocation is written to the cache (identity.credentials) and, on Redis, also published
on one channel. Each server process listens to that channel from a thread of its own and,
while it is listening, keeps the "not before" times it has read in memory, updated by what
it hears: a revocation made anywhere is seen by every process as soon as its message
arrives (milliseconds on one network). When the process is not listening (starting up,
Redis gone, or a cache without publish: the file and memory caches) nothing is kept and
every check reads the cache, as before. Losing the channel forgets everything kept, and a
silent connection is noticed by pings within LIVENESS seconds.
"""

import logging
import os
import threading
import time

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)

CHANNEL = "revocations"
PING_EVERY = 5.0
LIVENESS = 15.0  # no message or pong for this long: the connection is taken as lost
KEPT_MAX = 200_000  # times kept per process; past it, the memory starts again empty


class _Feed:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.listening = False
        self.epoch = 0  # moves whenever listening starts or stops (and memory is emptied)
        self.known: dict[str, float] = {}
        self.target: tuple | None = None  # (process, Redis servers, key prefix) listened to
        self.pubsub = None  # the connection listening, for the tests

    def _reset(self, target: tuple, *, listening: bool) -> None:
        with self.lock:
            if target == self.target:
                self.known.clear()
                self.listening = listening
                self.epoch += 1

    def start(self) -> None:
        """Listen in this process to the cache's Redis (again in a forked child, or when the
        cache settings change); nothing for other caches."""
        backend = caches["default"]
        redis = isinstance(backend, RedisCache)
        servers = tuple(backend._servers) if redis else None  # type: ignore[attr-defined]
        target = (os.getpid(), servers, backend.key_prefix)
        if target == self.target:
            return
        with self.lock:
            if target == self.target:
                return
            self.target, self.listening, self.known = target, False, {}
            self.epoch += 1
        if redis:
            threading.Thread(
                target=self._listen, args=(backend, target), name="revocations", daemon=True
            ).start()

    def _listen(self, backend: RedisCache, target: tuple) -> None:
        channel = backend.make_and_validate_key(CHANNEL)
        while target == self.target:
            try:
                client = backend._cache.get_client(channel)  # type: ignore[attr-defined]
                self._follow(client, channel, target)
            except Exception as error:  # Redis restarted or unreachable: try again shortly
                logger.warning("revocations channel lost (%s); checks read the cache", error)
            self._reset(target, listening=False)
            time.sleep(1.0)

    def _follow(self, client, channel: str, target: tuple) -> None:
        pubsub = self.pubsub = client.pubsub()
        try:
            pubsub.subscribe(channel)
            heard = pinged = time.monotonic()
            while target == self.target:
                message = pubsub.get_message(timeout=1.0)
                now = time.monotonic()
                if message is not None:
                    heard = now
                    if message["type"] == "subscribe":
                        self._reset(target, listening=True)
                    elif message["type"] == "message":
                        key, _, value = message["data"].decode().partition(" ")
                        self.heard(key, float(value))
                if now - pinged >= PING_EVERY:
                    pubsub.ping()
                    pinged = now
                if now - heard > LIVENESS:
                    raise ConnectionError(f"nothing heard for {LIVENESS:g} s")
        finally:
            pubsub.close()

    def heard(self, key: str, not_before: float) -> None:
        with self.lock:
            if self.listening:
                self.known[key] = not_before

    def kept(self, keys: list[str]) -> list[float] | None:
        """The times kept for every one of `keys`, or None (then read the cache)."""
        if not self.listening:
            return None
        try:
            return [self.known[key] for key in keys]
        except KeyError:
            return None

    def keep(self, epoch: int, times: dict[str, float]) -> None:
        """Keep times read from the cache while listening since `epoch` was taken; a time
        heard for the same key meanwhile is newer than the one read, and stays."""
        with self.lock:
            if not self.listening or epoch != self.epoch:
                return
            if len(self.known) + len(times) > KEPT_MAX:
                self.known.clear()
            for key, not_before in times.items():
                self.known.setdefault(key, not_before)


feed = _Feed()


def publish(key: str, not_before: float) -> None:
    """Tell every listening process of a time just written to the cache (this one at once,
    before its own message comes back)."""
    feed.heard(key, not_before)
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return
    channel = backend.make_and_validate_key(CHANNEL)
    client = backend._cache.get_client(channel, write=True)  # type: ignore[attr-defined]
    client.publish(channel, f"{key} {not_before!r}")
