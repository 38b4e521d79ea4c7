"""Change events for the websockets of an identity's devices.

Services call these; each event goes to the channel-layer group of the identity, and only
once the transaction that made the change has committed (nothing is sent for a write that
rolled back). With Redis, every server process holding a socket of the identity gets it.
Events are hints: each carries the dataset's sync count, so a device that missed one pulls.
"""

import json
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


def identity_group(identity_id: str) -> str:
    """The channel-layer group of an identity's sockets (group names cannot hold ':')."""
    return "sync." + identity_id.replace(":", "_")


def send_now(identity_id: str, message: dict) -> None:
    """Send at once, committed or not: only for callers already past their commit."""
    layer = get_channel_layer()
    if layer is None:
        return
    group = identity_group(identity_id)
    try:
        # The group rides along: each process's hub hands the event to that group's sockets.
        async_to_sync(layer.group_send)(group, {**message, "group": group})
    except Exception:  # a change is committed even if its event cannot be delivered
        logger.exception("could not send %s to %s", message.get("type"), identity_id)


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
