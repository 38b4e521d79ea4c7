"""The ASGI application under `/aws`, where the AWS SDKs send every call.

It stands beside Django's own HTTP handler rather than behind it: these requests are
authenticated by signature or token, not by session, so none of Django's browser middleware
applies, and skipping it saves a dozen thread hops per call. Each request costs one hop into
the thread that does the database work. The gateway reads the body (within the size limit),
answers CORS preflights, lets `admit` refuse a request before that hop (the guest limits),
hands the request as it arrived to the protocol's `respond`, and writes the answer with a
request id.
"""

import uuid
from collections.abc import Awaitable, Callable
from email.utils import formatdate

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from identity import ratelimit
from identity.api import render
from identity.api.render import ApiResponse
from identity.errors import ResourceNotFound
from identity.sigv4 import ArrivedRequest

# respond(arrived, request_id, oversize=...) -> ApiResponse
Respond = Callable[..., ApiResponse]
# admit(arrived, client address, proceed) -> ApiResponse: on the event loop, it answers
# itself (a refusal) or awaits proceed(), which hands the request to the database thread.
Admit = Callable[
    [ArrivedRequest, str, Callable[[], Awaitable[ApiResponse]]], Awaitable[ApiResponse]
]


def _respond_in_thread(respond: Respond, arrived, request_id, oversize) -> ApiResponse:
    close_old_connections()
    try:
        return respond(arrived, request_id, oversize=oversize)
    finally:
        close_old_connections()


_in_thread = sync_to_async(_respond_in_thread, thread_sensitive=True)


def _not_found(arrived: ArrivedRequest, request_id: str, *, oversize: bool) -> ApiResponse:
    error = ResourceNotFound(
        f"No AWS API lives at {arrived.raw_path}: point the SDK's endpoint at the /aws prefix."
    )
    return render.rest_json_error(error, "cognito-sync")


class AwsGateway:
    def __init__(
        self, *, prefix: str, rpc: Respond, rest: dict[str, Respond], admit: Admit | None = None
    ):
        """`rpc` answers `<prefix>` and `<prefix>/`; `rest` maps a first path segment (such
        as "identitypools") to the handler of the paths below it; `admit` sees every
        request first and decides whether it goes on."""
        self.prefix = prefix
        self.rpc = rpc
        self.rest = rest
        self.admit = admit

    def handles(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")

    def _route(self, path: str) -> Respond:
        rest = path[len(self.prefix) :].lstrip("/")
        if not rest:
            return self.rpc
        return self.rest.get(rest.split("/", 1)[0], _not_found)

    async def __call__(self, scope, receive, send) -> None:
        assert scope["type"] == "http"
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        origin = headers.get("origin")
        if scope["method"] == "OPTIONS":
            await self._send(send, ApiResponse(204, "text/plain", b""), origin, preflight=True)
            return
        body, oversize = await self._read_body(receive, headers)
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        arrived = ArrivedRequest(
            method=scope["method"],
            raw_path=raw_path.split("?", 1)[0],
            raw_query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
        )
        request_id = str(uuid.uuid4())
        route = self._route(scope["path"])

        def proceed() -> Awaitable[ApiResponse]:
            return _in_thread(route, arrived, request_id, oversize)

        if self.admit is not None and not oversize:
            response = await self.admit(arrived, _client_address(scope), proceed)
        else:
            response = await proceed()
        response.headers["x-amzn-RequestId"] = request_id
        await self._send(send, response, origin)

    @staticmethod
    async def _read_body(receive, headers) -> tuple[bytes, bool]:
        limit = settings.COGNATE_MAX_BODY_BYTES
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return b"", True
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return b"", True
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        return b"".join(chunks), False

    @staticmethod
    async def _send(send, response: ApiResponse, origin: str | None, preflight=False) -> None:
        headers = [
            (b"content-type", response.content_type.encode()),
            (b"content-length", str(len(response.body)).encode()),
            # Browser SDKs read the server's clock from Date (exposed to pages by CORS);
            # daphne sends none of its own, and uvicorn runs with --no-date-header.
            (b"date", formatdate(usegmt=True).encode()),
        ]
        headers += [(k.encode(), v.encode("latin-1")) for k, v in response.headers.items()]
        headers += _cors_headers(origin, preflight)
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})


def _client_address(scope) -> str:
    peer = (scope.get("client") or ("", 0))[0]
    forwarded = [
        value.decode("latin-1") for name, value in scope["headers"] if name == b"x-forwarded-for"
    ]
    return ratelimit.client_address(peer, ",".join(forwarded))


def _cors_headers(origin: str | None, preflight: bool) -> list[tuple[bytes, bytes]]:
    """Browser callers on any allowed origin (reference §1.9)."""
    allowed = settings.CORS_ALLOWED_ORIGINS
    if origin is None or ("*" not in allowed and origin not in allowed):
        return []
    out = [
        (b"access-control-allow-origin", b"*" if "*" in allowed else origin.encode("latin-1")),
        (b"access-control-expose-headers", ", ".join(settings.CORS_EXPOSE_HEADERS).encode()),
        (b"vary", b"Origin"),
    ]
    if preflight:
        out += [
            (b"access-control-allow-methods", b"GET, POST, DELETE, OPTIONS"),
            (b"access-control-allow-headers", ", ".join(settings.CORS_ALLOW_HEADERS).encode()),
            (b"access-control-max-age", str(settings.CORS_MAX_AGE).encode()),
        ]
    return out
