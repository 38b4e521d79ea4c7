"""The Redis pub/sub channel layer, telling the hub when it has subscribed again after losing
its connection to Redis. Events published while the subscription was down never arrive and
nothing else shows it (channels_redis accepts `on_reconnect` but never calls it), so the hub
asks its sockets to pull (syncstore/hub.py)."""

import asyncio
from collections.abc import Callable

from channels_redis import pubsub
from redis.asyncio.client import PubSub


class _PubSub(PubSub):
    """redis-py calls `on_connect` each time the connection is made again, to subscribe
    again to what it had (it keeps only a weak reference to this method); after that, tell
    the layer's listeners."""

    layer: "_LoopLayer"

    async def on_connect(self, connection) -> None:
        had_subscriptions = self.subscribed
        await super().on_connect(connection)
        if had_subscriptions:
            for callback in tuple(self.layer.resubscribed_callbacks):
                callback()


class _Shard(pubsub.RedisSingleShardConnection):
    def _ensure_redis(self) -> None:
        if self._redis is None:
            super()._ensure_redis()
            assert self._redis is not None
            client = _PubSub(self._redis.connection_pool)
            client.layer = self.channel_layer
            self._pubsub = client


class _LoopLayer(pubsub.RedisPubSubLoopLayer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.resubscribed_callbacks: set[Callable[[], None]] = set()
        shards: list = self._shards  # type: ignore[has-type]
        self._shards = [_Shard(shard.host, self) for shard in shards]


class RedisPubSubChannelLayer(pubsub.RedisPubSubChannelLayer):
    """channels_redis's pub/sub layer with `resubscribed_callbacks` (per event loop)."""

    def _get_layer(self) -> _LoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = _LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            pubsub._wrap_close(self, loop)
        return layer
