"""Change events for the websockets of an identity's devices.

Services call these; each event goes to the channel-layer group of the identity, and only
once the transaction that made the change has committed (nothing is sent for a write that
rolled back). With Redis, every server process holding a socket of the identity gets it.
Events are hints: each carries the dataset's sync count, so a device that missed one pulls.
"""

import asyncio
import json
import logging
import os

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


def identity_group(identity_id: str) -> str:
    """The channel-layer group of an identity's sockets (group names cannot hold ':')."""
    return "sync." + identity_id.replace(":", "_")


def send_now(identity_id: str, message: dict) -> None:
    """Send at once, committed or not: only for callers already past their commit.

    In a server's request thread the event is handed to the server's event loop, which
    sends it after the request's thread has moved on (one sender per loop, so a process's
    events leave in the order they were handed over); elsewhere (jobs, commands) it is sent
    before this returns."""
    layer = get_channel_layer()
    if layer is None:
        return
    group = identity_group(identity_id)
    # The group rides along: each process's hub hands the event to that group's sockets.
    event = {**message, "group": group}
    loop = _server_loop()
    if loop is not None:
        loop.call_soon_threadsafe(_enqueue, loop, (layer, group, event))
        return
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception:  # a change is committed even if its event cannot be delivered
        logger.exception("could not send %s to %s", message.get("type"), identity_id)


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The running event loop this thread was called from by sync_to_async, if any."""
    local = SyncToAsync.threadlocal
    loop = getattr(local, "main_event_loop", None)
    if loop is None or getattr(local, "main_event_loop_pid", None) != os.getpid():
        return None
    return loop if loop.is_running() and not loop.is_closed() else None


_queues: dict[asyncio.AbstractEventLoop, asyncio.Queue] = {}


def _enqueue(loop: asyncio.AbstractEventLoop, item: tuple) -> None:
    _queue_for(loop).put_nowait(item)  # on the loop itself (call_soon_threadsafe)


def _queue_for(loop: asyncio.AbstractEventLoop) -> asyncio.Queue:
    """The loop's queue of events to send, and its one sender (made on first use)."""
    queue = _queues.get(loop)
    if queue is None:
        queue = _queues[loop] = asyncio.Queue()
        for closed in [other for other in _queues if other.is_closed()]:
            del _queues[closed]
        sender = loop.create_task(_sender(queue))
        _senders.add(sender)
    return queue


_senders: set[asyncio.Task] = set()  # referenced, so that no sender is collected while it runs


async def _sender(queue: asyncio.Queue) -> None:
    while True:
        layer, group, event = await queue.get()
        try:
            await layer.group_send(group, event)
        except Exception:  # a change is committed even if its event cannot be delivered
            logger.exception("could not send %s to %s", event.get("type"), group)


def _on_commit(identity_id: str, message: dict) -> None:
    transaction.on_commit(lambda: send_now(identity_id, message))


def dataset_changed(
    *, identity_id: str, dataset: str, sync_count: int, records: list[dict]
) -> None:
    """The dataset's records changed (an update from a socket or the HTTP API). The records
    ride along when they are small; otherwise devices pull them."""
    small = len(json.dumps(records)) <= settings.SYNC_WS_EVENT_RECORDS_MAX_BYTES
    _on_commit(
        identity_id,
        {
            "type": "sync.changed",
            "dataset": dataset,
            "syncCount": sync_count,
            "records": records if small else None,
        },
    )


def dataset_deleted(*, identity_id: str, dataset: str, sync_count: int) -> None:
    _on_commit(identity_id, {"type": "sync.deleted", "dataset": dataset, "syncCount": sync_count})


def identities_merged(*, survivor_id: str, merged_id: str, datasets: list[str]) -> None:
    """A guest was merged into another identity: both identities' devices hear of it."""
    message = {
        "type": "sync.merged",
        "from": merged_id,
        "into": survivor_id,
        "datasets": datasets,
    }
    _on_commit(survivor_id, message)
    _on_commit(merged_id, message)


def identity_revoked(*, identity_id: str, reason: str) -> None:
    """The identity's credentials and tokens were revoked: its sockets close."""
    _on_commit(identity_id, {"type": "sync.revoked", "reason": reason})
