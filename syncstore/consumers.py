"""The websocket of one device (`/ws/sync`): authenticate with an OpenID token, pull deltas,
push patches, hear of every change to the identity. The protocol is in
docs/sync-protocol.md; the work is done by the same services and selectors as the HTTP API.
"""

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from aws import shapes as aws_shapes
from aws.errors import (
    AuthFailure,
    AwsError,
    InvalidParameter,
    NotAuthorized,
    SerializationFailed,
    TooManyRequests,
)
from identity.auth import Caller, token_caller
from identity.credentials import Session, is_revoked
from syncstore import events, selectors, services, usage
from syncstore.hub import Hub, hub, in_background
from syncstore.shapes import record_shape

logger = logging.getLogger(__name__)

PROTOCOL = "cognate.sync.v1"
TOKEN_PREFIX = "bearer."

# Close codes (docs/sync-protocol.md).
CLOSE_UNAUTHENTICATED = 4401  # no or bad token, or the token expired
CLOSE_REVOKED = 4403  # the identity was disabled, merged away or deleted
CLOSE_IDLE = 4408  # nothing heard from the client for SYNC_WS_IDLE_TIMEOUT
CLOSE_TOO_MANY = 4429  # too many sockets of this identity on this server process
CLOSE_INVALID = 1007  # a message nesting JSON deeper than any real one
CLOSE_TOO_BIG = 1009  # a message over SYNC_WS_MAX_MESSAGE_BYTES
# The socket fell PENDING_EVENTS_MAX events behind, or events may have been lost while the
# channel layer was cut off from Redis: reconnect and pull.
CLOSE_BEHIND = 1013

# Events waiting for one socket that is slow to take them.
PENDING_EVENTS_MAX = 100


def _shape(name: str):
    return aws_shapes.service_model("cognito-sync").shape_for(name)


def _checked_patches(raw: list) -> Iterator[dict]:
    """A push's patches, each checked against the RecordPatch shape as it is read (UpdateRecords
    has its whole input checked before it runs; here a patch is refused at its place)."""
    shape = _shape("RecordPatch")
    for number, item in enumerate(raw, start=1):
        aws_shapes.validate(
            shape,
            item,
            invalid=InvalidParameter,
            wrong_type=InvalidParameter,
            path=f"patches.{number}",
        )
        yield item


@database_sync_to_async
def _caller_from_token(token: str) -> Caller:
    return token_caller(token)


def _still_valid(session: Session) -> Caller:
    if is_revoked(session.identity_id, session.pool_id, session.issued_at):
        raise Revoked()
    return Caller(session=session)


class _TooDeep(SerializationFailed):
    """A message nesting JSON deeper than shapes.MAX_JSON_DEPTH: not from a real client."""


class Revoked(Exception):
    """The identity's tokens were revoked while its socket was open."""


@database_sync_to_async
def _pull(session: Session, dataset: str, since: int, page: str | None) -> dict:
    caller = _still_valid(session)
    identity = selectors.identity_for_caller(
        caller,
        "ListRecords",
        pool_id=session.pool_id,
        identity_id=session.identity_id,
        dataset_name=dataset,
    )
    delta = selectors.records_delta(identity, dataset, after=since, limit=1024, page_token=page)
    return {
        "dataset": dataset,
        "exists": delta.exists,
        "syncCount": delta.sync_count,
        "deletedAfterSince": delta.deleted_after,
        "records": [record_shape(row) for row in delta.records],
        "next": delta.next_token,
        "mergedDatasets": selectors.merged_dataset_names(identity, dataset),
    }


@database_sync_to_async
def _push(session: Session, dataset: str, patches: list, device_id: str | None) -> dict:
    caller = _still_valid(session)
    identity = selectors.identity_for_caller(
        caller,
        "UpdateRecords",
        pool_id=session.pool_id,
        identity_id=session.identity_id,
        dataset_name=dataset,
    )
    update = services.records_update(
        identity=identity,
        dataset_name=dataset,
        patches=patches,
        modified_by=device_id or session.identity_id,
        trigger=True,
    )
    return {
        "dataset": dataset,
        "syncCount": update.sync_count,
        "records": [record_shape(row) for row in update.records],
    }


class SyncConsumer(AsyncWebsocketConsumer):
    """One device's socket. Thin: it checks the message, calls a selector or a service, and
    forwards the identity's change events."""

    session: Session | None = None
    group: str | None = None  # the identity's group, once the socket joined it
    hub: Hub | None = None  # the hub it joined
    pending: list[dict] | None = None  # events waiting to be sent, while a send is under way
    timer: asyncio.TimerHandle | None = None
    closing = False

    async def __call__(self, scope, receive, send) -> None:
        # Unlike Channels' consumers this one has no channel-layer channel of its own (a
        # queue and two waiting tasks per socket): the process's hub hands it the identity's
        # events (syncstore/hub.py). Messages from the device and events take turns, as in
        # Channels: a push is answered before the event of its own change is sent.
        self.scope = scope
        self.base_send = send
        self.turn = asyncio.Lock()
        try:
            while True:
                await self._take_turn(await receive())
        except StopConsumer:
            pass
        finally:
            await self._release()

    async def _take_turn(self, message: dict) -> None:
        async with self.turn:
            await self.dispatch(message)

    async def dispatch(self, message: dict) -> None:
        # Channels' dispatch hops to a thread to tidy database connections before every
        # message, events included: a hundred hops for an event to a hundred sockets. Every
        # database call here goes through database_sync_to_async, which tidies them itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.bucket = (float(settings.SYNC_WS_PUSH_BURST), time.monotonic())
        self.opened = self.heard = asyncio.get_running_loop().time()
        offered = self.scope.get("subprotocols") or []
        await self.accept(PROTOCOL if PROTOCOL in offered else None)
        token = next((p[len(TOKEN_PREFIX) :] for p in offered if p.startswith(TOKEN_PREFIX)), None)
        if token:
            await self._authenticate(token, None)
        self._arm()

    async def disconnect(self, code: int) -> None:
        await self._release()

    async def _release(self) -> None:
        """Leave the identity's group and stop the timer; safe to call twice."""
        self._closing()
        if self.group is not None:
            assert self.hub is not None and self.session is not None
            group, self.group = self.group, None
            self.hub.leave(group, self)
            await usage.socket_closed(pool_id=self.session.pool_id)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        self._closing()
        await super().close(code=code, reason=reason)

    def _closing(self) -> None:
        """No more events, no more deadlines."""
        self.closing = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    # --- Deadlines: one timer, for the nearest ---------------------------------------------------
    def _deadline(self) -> tuple[float, int]:
        """(loop time, close code) of the first thing that will close this socket: silence
        for the idle timeout, no authentication in time, or the token expiring."""
        deadlines = [(self.heard + settings.SYNC_WS_IDLE_TIMEOUT, CLOSE_IDLE)]
        if self.session is None:
            deadlines.append((self.opened + settings.SYNC_WS_AUTH_TIMEOUT, CLOSE_UNAUTHENTICATED))
        else:
            left = self.session.expires_at - time.time()
            deadlines.append((asyncio.get_running_loop().time() + left, CLOSE_UNAUTHENTICATED))
        return min(deadlines)

    def _arm(self) -> None:
        """Set the timer for the nearest deadline. A deadline that moves later (a message
        heard, a token renewed) needs no re-arming: the timer looks again when it fires."""
        if self.closing:
            return
        if self.timer is not None:
            self.timer.cancel()
        when, _ = self._deadline()
        self.timer = asyncio.get_running_loop().call_at(when, self._deadline_reached)

    def _deadline_reached(self) -> None:
        self.timer = None
        when, code = self._deadline()
        if when <= asyncio.get_running_loop().time():
            in_background(self.close(code=code))
        else:
            self._arm()

    # --- Messages from the device -----------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > settings.SYNC_WS_MAX_MESSAGE_BYTES:
            await self.close(code=CLOSE_TOO_BIG)
            return
        self.heard = asyncio.get_running_loop().time()
        await usage.sockets_refresh()
        try:
            message = aws_shapes.load_json(
                text_data if text_data is not None else bytes_data or b"",
                too_deep=_TooDeep,
                what="message",
            )
        except AwsError as error:
            await self._error(None, error.code, error.message)
            if isinstance(error, _TooDeep):
                await self.close(code=CLOSE_INVALID)
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self._error(None, "SerializationException", 'A message is an object with "type".')
            return
        request_id = message.get("id")
        kind = message["type"]
        try:
            if kind == "auth":
                token = self._string(message, "token")
                if not token.isascii():
                    raise AuthFailure(
                        "unknown_key", "The token is not an OpenID token of this server."
                    )
                await self._authenticate(token, request_id)
            elif self.session is None:
                raise AuthFailure("missing", 'Authenticate first: {"type": "auth", "token": ...}.')
            elif kind == "ping":
                await self._send({"type": "pong", "id": request_id})
            elif kind == "pull":
                await self._pull(message, request_id)
            elif kind == "push":
                await self._push(message, request_id)
            else:
                await self._error(
                    request_id, "UnknownOperationException", f"Unknown message type {kind!r}."
                )
        except Revoked:
            await self._send({"type": "revoked", "reason": "revoked"})
            await self.close(code=CLOSE_REVOKED)
        except AwsError as error:
            extra = (
                {"conflicts": error.conflicts} if isinstance(error, services.RecordConflict) else {}
            )
            await self._error(request_id, error.code, error.message, **extra)
            if isinstance(error, AuthFailure) and self.session is None:
                await self.close(code=CLOSE_UNAUTHENTICATED)
        except Exception:
            logger.exception("websocket message %s failed", kind)
            await self._error(request_id, "InternalErrorException", "The message failed.")

    @staticmethod
    def _string(message: dict, name: str) -> str:
        value = message.get(name)
        if not isinstance(value, str) or not value:
            raise InvalidParameter(f'"{name}" must be a non-empty string.')
        return value

    @staticmethod
    def _token_text(message: dict, name: str) -> str | None:
        """An optional token the server made (a page token): ASCII text or nothing."""
        value = message.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not value.isascii():
            raise InvalidParameter(f'"{name}" must be the token the server sent, or absent.')
        return value

    def _dataset(self, message: dict) -> str:
        name = self._string(message, "dataset")
        aws_shapes.validate(
            _shape("DatasetName"),
            name,
            invalid=InvalidParameter,
            wrong_type=InvalidParameter,
            path="dataset",
        )
        return name

    async def _authenticate(self, token: str, request_id: Any) -> None:
        try:
            caller = await _caller_from_token(token)
        except AwsError as error:
            await self._error(request_id, error.code, error.message)
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        session = caller.session
        assert session is not None
        if self.session is not None:  # renewal on the open socket
            if (session.identity_id, session.pool_id) != (
                self.session.identity_id,
                self.session.pool_id,
            ):
                raise NotAuthorized(
                    f"This socket acts for identity '{self.session.identity_id}': a renewed "
                    "token must be of the same identity. Open another socket for another one."
                )
            self.session = session
            self._arm()
            await self._send({"type": "renewed", "id": request_id, "expiresAt": session.expires_at})
            return
        identity_id = session.identity_id
        group = events.identity_group(identity_id)
        limit = settings.SYNC_WS_MAX_SOCKETS_PER_IDENTITY
        self.hub = hub()
        if not await self.hub.join(group, self, limit=limit):
            await self._error(
                request_id,
                "LimitExceededException",
                f"This identity already has {settings.SYNC_WS_MAX_SOCKETS_PER_IDENTITY} "
                "sockets open on this server; close one (one socket per browser suffices).",
            )
            await self.close(code=CLOSE_TOO_MANY)
            return
        self.session = session
        self.group = group
        self._arm()
        await usage.socket_opened(pool_id=session.pool_id)
        await self._send(
            {
                "type": "ready",
                "id": request_id,
                "identityId": identity_id,
                "identityPoolId": session.pool_id,
                "expiresAt": session.expires_at,
            }
        )

    async def _pull(self, message: dict, request_id: Any) -> None:
        assert self.session is not None
        dataset = self._dataset(message)
        since = message.get("since", 0)
        if isinstance(since, bool) or not isinstance(since, int):
            raise InvalidParameter('"since" must be a whole number (a sync count).')
        page = self._token_text(message, "next")
        result = await _pull(self.session, dataset, since, page)
        await self._send({"type": "records", "id": request_id, **result})

    def _take_push_token(self) -> bool:
        tokens, last = self.bucket
        now = time.monotonic()
        tokens = min(
            float(settings.SYNC_WS_PUSH_BURST),
            tokens + (now - last) * settings.SYNC_WS_PUSHES_PER_SECOND,
        )
        if tokens < 1:
            self.bucket = (tokens, now)
            return False
        self.bucket = (tokens - 1, now)
        return True

    async def _push(self, message: dict, request_id: Any) -> None:
        assert self.session is not None
        if not self._take_push_token():
            raise TooManyRequests(
                f"More than {settings.SYNC_WS_PUSHES_PER_SECOND:g} pushes a second on this "
                "socket; wait a moment and push again (batch changes into one push)."
            )
        dataset = self._dataset(message)
        raw = message.get("patches")
        if not isinstance(raw, list):
            raise InvalidParameter('"patches" must be a list of record patches.')
        patches = services.record_patches(_checked_patches(raw))
        device_id = message.get("deviceId")
        if device_id is not None:
            aws_shapes.validate(
                _shape("DeviceId"),
                device_id,
                invalid=InvalidParameter,
                wrong_type=InvalidParameter,
                path="deviceId",
            )
        result = await _push(self.session, dataset, patches, device_id)
        await self._send({"type": "pushed", "id": request_id, **result})

    async def _send(self, message: dict) -> None:
        await self.send(text_data=json.dumps(message, separators=(",", ":")))

    async def _error(self, request_id: Any, code: str, text: str, **extra: Any) -> None:
        await self._send(
            {"type": "error", "id": request_id, "code": code, "message": text, **extra}
        )

    # --- Events for the identity (channel-layer group, through the hub) --------------------
    def missed(self) -> None:
        """Called by the hub when events may have been lost: close with 1013, as for a socket
        that fell behind, so the device reconnects and pulls."""
        if self.closing:
            return
        self._closing()
        self.pending = []
        in_background(self.close(code=CLOSE_BEHIND))

    def hear(self, event: dict) -> None:
        """Called by the hub for each event of the identity: the events are sent in order by
        a task of this socket's own, so a socket slow to take them holds up no other."""
        if self.closing:
            return
        if self.pending is not None:
            if len(self.pending) >= PENDING_EVENTS_MAX:
                # Dropping events would leave the device unaware it is behind.
                self._closing()
                self.pending = []
                in_background(self.close(code=CLOSE_BEHIND))
                return
            self.pending.append(event)
            return
        self.pending = [event]
        in_background(self._send_pending())

    async def _send_pending(self) -> None:
        try:
            while self.pending and not self.closing:
                async with self.turn:
                    if not self.pending or self.closing:
                        break
                    event = self.pending.pop(0)
                    handler = getattr(self, get_handler_name(event), None)
                    if handler is None:
                        logger.error("no handler for event %s", event.get("type"))
                        continue
                    await handler(event)
        except Exception:
            logger.exception("sending events to a socket failed")
        finally:
            self.pending = None

    async def sync_changed(self, event: dict) -> None:
        await self._send(
            {
                "type": "changed",
                "dataset": event["dataset"],
                "syncCount": event["syncCount"],
                "records": event["records"],
            }
        )

    async def sync_deleted(self, event: dict) -> None:
        await self._send(
            {"type": "deleted", "dataset": event["dataset"], "syncCount": event["syncCount"]}
        )

    async def sync_merged(self, event: dict) -> None:
        await self._send(
            {
                "type": "merged",
                "from": event["from"],
                "into": event["into"],
                "datasets": event["datasets"],
            }
        )
        if self.session is not None and self.session.identity_id == event["from"]:
            await self.close(code=CLOSE_REVOKED)

    async def sync_revoked(self, event: dict) -> None:
        await self._send({"type": "revoked", "reason": event["reason"]})
        await self.close(code=CLOSE_REVOKED)
