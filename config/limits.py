"""Limits on what a client may send, enforced before it is read: request bodies over
COGNATE_MAX_BODY_BYTES on every path and either server; on daphne also request lines and
headers over twisted's limits (414, 431) and websocket messages over
SYNC_WS_MAX_MESSAGE_BYTES (closed with 1009). docs/operations.md ("Limits") says what each
server does.

daphne buffers a whole request body before it calls the application, so the body limit is
also enforced inside daphne, by the factories `install_on_daphne` puts in its place; uvicorn
streams bodies to the application, where `BodyLimit` enforces it.
"""

from collections.abc import Callable
from http import HTTPStatus
from io import BytesIO
from urllib.parse import unquote

from asgiref.sync import sync_to_async
from daphne import http_protocol as daphne_http
from daphne import server as daphne_server
from daphne import ws_protocol as daphne_ws
from django.conf import settings
from twisted.web import http as twisted_http

Headers = list[tuple[bytes, bytes]]
# (status, headers, body) of a complete HTTP answer.
Answer = tuple[int, Headers, bytes]
# The answer to a request whose body is too large, from its scope alone (no body, no
# database): daphne calls it on its event loop, so it must not block.
TooLarge = Callable[[dict], Answer]

# After refusing a request daphne reads and discards what the client still sends, for at
# most this long, before it closes: a client that sends a whole body before it reads (urllib,
# requests, the AWS SDKs) then sees the answer rather than a reset connection.
DRAIN_SECONDS = 10


def plain_answer(status: int, message: str) -> Answer:
    body = f"{status} {HTTPStatus(status).phrase}: {message}\n".encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    return status, headers, body


def plain_too_large(scope: dict) -> Answer:
    return plain_answer(
        413,
        "the request body is larger than this server accepts "
        f"({settings.COGNATE_MAX_BODY_BYTES} bytes).",
    )


def declared_length(scope: dict) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


class BodyLimit:
    """ASGI middleware: a request whose body is over COGNATE_MAX_BODY_BYTES gets the answer of
    `too_large`, from its Content-Length before any of the body is read, or as soon as a
    chunked body passes the limit. The application gets the body in one message."""

    def __init__(self, app, *, too_large: TooLarge):
        self.app = app
        self.too_large = too_large

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = settings.COGNATE_MAX_BODY_BYTES
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            return await self._refuse(scope, send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                # uvicorn reads and discards the rest of the body after this answer.
                return await self._refuse(scope, send)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = [b"".join(chunks)]

        async def receive_body():
            if body:
                return {"type": "http.request", "body": body.pop(), "more_body": False}
            return await receive()

        await self.app(scope, receive_body, send)

    async def _refuse(self, scope, send) -> None:
        # Made in a thread, as every other /aws answer is. Made on the event loop, among
        # uvicorn's read buffers, it fragmented the heap: a uvicorn worker grew by about
        # 40 MiB over a few hundred refused chunked uploads before levelling off.
        status, headers, body = await sync_to_async(self.too_large, thread_sensitive=False)(scope)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


# --- daphne -----------------------------------------------------------------------------------
class _Channel(twisted_http.HTTPChannel):
    """Twisted's HTTP/1.1 connection, answering with a status that says why where twisted
    drops the connection without a word (a request line or header line over MAX_LENGTH,
    16 KiB) or answers a bare 400 (all the headers over totalHeadersSize, 16 KiB, or more
    than maxHeaders, 500); and refusing without a reset, for a request that cannot be
    served (`refuse`)."""

    refusing = False
    _drain_deadline = None

    def refuse(self, answer: Answer) -> None:
        """Send `answer` and close: half-close at once, then read and discard whatever the
        client still sends for up to DRAIN_SECONDS."""
        if self.refusing:
            return
        self.refusing = True
        self.setTimeout(None)
        status, headers, body = answer
        head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()]
        head += [name + b": " + value for name, value in headers]
        head.append(b"connection: close")
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        half_close = getattr(self.transport, "loseWriteConnection", None)
        if half_close is None:
            self.loseConnection()
            return
        half_close()
        self._drain_deadline = self.callLater(DRAIN_SECONDS, self.transport.abortConnection)

    # Once refusing, nothing more is parsed: neither later reads nor the rest of this one.
    def dataReceived(self, data: bytes) -> None:
        if not self.refusing:
            super().dataReceived(data)

    def rawDataReceived(self, data: bytes) -> None:
        if not self.refusing:
            super().rawDataReceived(data)

    def connectionLost(self, reason) -> None:
        if self._drain_deadline is not None and self._drain_deadline.active():
            self._drain_deadline.cancel()
        super().connectionLost(reason)

    def lineLengthExceeded(self, line: bytes) -> None:
        # The request object is made once the request line is in.
        if self.requests:
            self.refuse(plain_answer(431, f"a header line is over {self.MAX_LENGTH} bytes."))
        else:
            self.refuse(plain_answer(414, f"the request line is over {self.MAX_LENGTH} bytes."))

    def lineReceived(self, line: bytes) -> None:
        if self.refusing:
            return
        if self._receivedHeaderSize + len(line) > self.totalHeadersSize:
            self.refuse(plain_answer(431, f"the headers are over {self.totalHeadersSize} bytes."))
            return
        super().lineReceived(line)

    def headerReceived(self, line: bytes) -> bool:
        if self._receivedHeaderCount >= self.maxHeaders:
            self.refuse(plain_answer(431, f"the request has over {self.maxHeaders} headers."))
            return False
        return super().headerReceived(line)

    def _respondToBadRequestAndDisconnect(self) -> None:
        self.refuse(plain_answer(400, "the request is not valid HTTP/1.1."))


class _Request(daphne_http.WebRequest):
    """daphne's request, refusing a body over COGNATE_MAX_BODY_BYTES as its Content-Length
    arrives, or as a chunked body passes the limit, rather than buffering all of it."""

    refused = False
    received = 0

    def gotLength(self, length: int | None) -> None:
        if length is not None and length > settings.COGNATE_MAX_BODY_BYTES:
            # No "100 Continue" for a body that will not be read.
            self.requestHeaders.removeHeader(b"expect")
            self.content = BytesIO()
            self._refuse()
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self.refused:
            return
        self.received += len(data)
        if self.received > settings.COGNATE_MAX_BODY_BYTES:
            self.content.close()
            self.content = BytesIO()
            self._refuse()
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        # The end of a refused body can arrive in the same read as the part that passed the
        # limit: the application never sees the request.
        if not self.refused:
            super().requestReceived(command, path, version)

    def _refuse(self) -> None:
        self.refused = True
        self.channel.refuse(self.channel.factory.too_large(self._scope()))

    def _scope(self) -> dict:
        # Twisted gives the request its method and path once the body is in; until then
        # they are the channel's.
        method = getattr(self.channel, "_command", b"POST")
        target = getattr(self.channel, "_path", b"/")
        raw_path, _, query = target.partition(b"?")
        return {
            "type": "http",
            "method": method.decode("latin-1"),
            "path": unquote(raw_path.decode("latin-1")),
            "raw_path": raw_path,
            "query_string": query,
            "headers": [
                (name.lower(), value)
                for name, values in self.requestHeaders.getAllRawHeaders()
                for value in values
            ],
        }


class _HTTPFactory(daphne_http.HTTPFactory):
    too_large: TooLarge = staticmethod(plain_too_large)

    def protocol(self):
        return twisted_http._GenericHTTPChannelProtocol(_Channel())

    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = _Request
        return protocol


class _WebSocketProtocol(daphne_ws.WebSocketProtocol):
    """daphne's websocket protocol, letting the application close with the registered codes
    a server sends (autobahn lets applications use only 1000 and 3000-4999): 1007 (a message
    no client sends), 1011 and 1013 (reconnect and pull, docs/sync-protocol.md)."""

    SERVER_CODES = frozenset({1001, 1007, 1008, 1009, 1011, 1012, 1013})

    def sendClose(self, code: int | None = None, reason: str | None = None) -> None:
        if code in self.SERVER_CODES:
            reason_bytes = (reason or "").encode()[:123] or None
            self.sendCloseFrame(code=code, reasonUtf8=reason_bytes, isReply=False)
            return
        super().sendClose(code, reason)


class _WebSocketFactory(daphne_ws.WebSocketFactory):
    """daphne's websocket factory, with SYNC_WS_MAX_MESSAGE_BYTES as the limit of a message
    and of a frame (daphne's --websocket-max-message-size and --websocket-max-frame-size are
    set from it), checked against each frame's declared length before its payload is read;
    a message over it is closed with 1009 instead of dropping the TCP connection, and so are
    protocol errors (1002, 1007)."""

    protocol = _WebSocketProtocol

    def setProtocolOptions(self, **options) -> None:
        limit = settings.SYNC_WS_MAX_MESSAGE_BYTES
        options.update(maxMessagePayloadSize=limit, maxFramePayloadSize=limit, failByDrop=False)
        super().setProtocolOptions(**options)


def install_on_daphne(too_large: TooLarge) -> None:
    """Make daphne's server use the factories above. The `daphne` command imports the ASGI
    application (config/asgi.py calls this) before it builds its factories, and so do
    `manage.py runserver` and Channels' live test server."""
    _HTTPFactory.too_large = staticmethod(too_large)
    daphne_server.HTTPFactory = _HTTPFactory
    daphne_server.WebSocketFactory = _WebSocketFactory
