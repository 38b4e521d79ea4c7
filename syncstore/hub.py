"""This server process's one ear on the channel layer for the sockets it holds.

Events go to a channel-layer group per identity (syncstore/events.py). Rather than a
channel of its own for every socket (a queue, a waiting task and, with Redis, a
subscription per socket), each process has one channel, puts it in the group of every
identity with a socket here, and hands each event to that identity's sockets. With Redis
that is one subscription per identity per process, whatever the number of its sockets.
"""

import asyncio
import logging
import weakref
from typing import Any, Protocol

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

# Tasks started from callbacks, held until done (the loop keeps only weak references).
_background: set[asyncio.Task] = set()


def in_background(coroutine) -> None:
    task = asyncio.ensure_future(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)


class Listener(Protocol):
    def hear(self, event: dict) -> None:
        """Take an event without waiting (a slow socket must not hold up the others)."""

    def missed(self) -> None:
        """Events may have been lost (the layer lost its subscriptions for a while): have
        the device pull."""


class Hub:
    """The sockets of this process (of this event loop) by identity group, and the channel
    that is in those groups while any socket is."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.members: dict[str, set[Listener]] = {}
        self.channel: str | None = None
        self.listening: list[asyncio.Task] = []
        self.lock = asyncio.Lock()

    async def join(self, group: str, listener: Listener, *, limit: int) -> bool:
        """Add a socket to its group; False, and nothing changed, when the group already
        has `limit` sockets here. Once this returns True every later event reaches it."""
        async with self.lock:
            members = self.members.get(group)
            if members is not None and len(members) >= limit:
                return False
            if self.channel is None:
                self.channel = await self.layer.new_channel("hub.")
                self.listening = [asyncio.ensure_future(self._listen(self.channel))]
                self._resubscribed_callbacks().add(self._missed)
                if getattr(self.layer, "group_expiry", None):
                    self.listening.append(asyncio.ensure_future(self._stay_in_groups()))
            channel = self.channel
            if members is None:
                try:
                    await self.layer.group_add(group, channel)
                except BaseException:  # failed or cancelled: the layer may be half joined
                    in_background(self._leave_group(group, channel))
                    raise
                members = self.members[group] = set()
            members.add(listener)
            return True

    def leave(self, group: str, listener: Listener) -> None:
        """Remove a socket at once (nothing to wait for, nothing to cancel); the group is
        left in the background if it was the identity's last socket here."""
        members = self.members.get(group)
        if members is None or listener not in members:
            return
        members.remove(listener)
        if not members and self.channel is not None:
            in_background(self._leave_group(group, self.channel))

    async def _leave_group(self, group: str, channel: str) -> None:
        """Take the channel out of a group that has no socket here any more (unless one
        joined meanwhile), and stop listening once no group is left."""
        async with self.lock:
            if self.members.get(group) or channel != self.channel:
                return
            self.members.pop(group, None)
            try:
                await self.layer.group_discard(group, channel)
            except Exception:
                logger.exception("leaving the group %s failed", group)
            finally:
                if not self.members:
                    self._stop()

    def _stop(self) -> None:
        for task in self.listening:
            task.cancel()  # the layer drops the channel (and its subscription)
        self.listening = []
        self.channel = None
        self._resubscribed_callbacks().discard(self._missed)

    def _resubscribed_callbacks(self) -> set:
        """Where the layer tells of subscriptions made again after a lost connection
        (syncstore/layers.py); layers that never lose theirs have none."""
        found = getattr(self.layer, "resubscribed_callbacks", None)
        return found if isinstance(found, set) else set()

    def _missed(self) -> None:
        logger.warning("the channel layer subscribed again; sockets here are told to pull")
        for members in tuple(self.members.values()):
            for listener in tuple(members):
                try:
                    listener.missed()
                except Exception:
                    logger.exception("telling a socket to pull failed")

    async def _stay_in_groups(self) -> None:
        """Layers with a group expiry (the in-memory one: a day) drop memberships older
        than that, though sockets of the identity are still open here: join again well
        before."""
        while True:
            await asyncio.sleep(self.layer.group_expiry / 4)
            async with self.lock:
                try:
                    for group in list(self.members):
                        await self.layer.group_add(group, self.channel)
                except Exception:
                    logger.exception("renewing group memberships failed")

    async def _listen(self, channel: str) -> None:
        while True:
            try:
                event = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("receiving events failed; listening again in a second")
                await asyncio.sleep(1)
                continue
            for listener in tuple(self.members.get(event.get("group", ""), ())):
                try:
                    listener.hear(event)
                except Exception:  # one socket's failure is not the others'
                    logger.exception("handing an event to a socket failed")


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub]" = weakref.WeakKeyDictionary()


def hub() -> Hub:
    """The hub of the running event loop (one per server process; one per test's loop)."""
    loop = asyncio.get_running_loop()
    layer = get_channel_layer()
    found = _hubs.get(loop)
    if found is None or found.layer is not layer:
        found = _hubs[loop] = Hub(layer)
    return found
