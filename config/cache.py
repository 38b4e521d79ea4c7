"""Django's Redis cache with one client per process.

Django makes a cache object per thread and per async context, and its Redis client builds a
new `redis.Redis` (and, per cache object, a new connection pool) for every operation, so
each request opened a fresh connection. The calls on the hot path (revocation checks, the
configuration generation) read the cache on every request; this backend shares one client,
with one connection pool, across the process.
"""

import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class _SharedClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._client(connection_pool=self._get_connection_pool(write))
            self._clients[index] = client
        return client


class SharedRedisCache(RedisCache):
    _clients: dict[tuple, _SharedClient] = {}
    _lock = threading.Lock()

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _SharedClient

    @property
    def _cache(self):  # type: ignore[override]
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.setdefault(key, self._class(self._servers, **self._options))
        return client
