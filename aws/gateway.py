"""The ASGI application under `/aws`, where the AWS SDKs send every call.

It stands beside Django's own HTTP handler rather than behind it: these requests are
authenticated by signature or token, not by session, so none of Django's browser middleware
applies, and skipping it saves a dozen thread hops per call. Each request costs one hop into
the threads that do the database work (COGNATE_AWS_THREADS per process). The gateway reads
the body (config/asgi.py puts config.limits.BodyLimit in front, so it is within
COGNATE_MAX_BODY_BYTES), answers CORS preflights, lets `admit` refuse a request before that
hop (the guest limits), hands the request as it arrived to the protocol's `respond`, and
writes the answer with a request id. `too_large` gives the answer to a body over the limit,
for the server to send before reading it.
"""

import logging
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from functools import cache

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from aws import render
from aws.errors import AwsError, RequestTooLarge, ResourceNotFound, internal_failure
from aws.render import ApiResponse
from aws.sigv4 import ArrivedRequest

logger = logging.getLogger(__name__)

# respond(arrived, request_id, oversize=...) -> ApiResponse
Respond = Callable[..., ApiResponse]
# admit(arrived, ASGI scope, proceed) -> ApiResponse: on the event loop, it answers itself
# (a refusal) or awaits proceed(), which hands the request to the database threads.
Admit = Callable[
    [ArrivedRequest, dict, Callable[[], Awaitable[ApiResponse]]], Awaitable[ApiResponse]
]


def _respond_in_thread(respond: Respond, arrived, request_id) -> ApiResponse:
    close_old_connections()
    try:
        return respond(arrived, request_id)
    finally:
        close_old_connections()


@cache
def _in_thread() -> Callable[..., Awaitable[ApiResponse]]:
    """The hop into the threads that do the work: COGNATE_AWS_THREADS of them, each with its
    own database connection; with one, the process's one thread for sync code (Django's)."""
    threads = settings.COGNATE_AWS_THREADS
    if threads <= 1:
        return sync_to_async(_respond_in_thread, thread_sensitive=True)
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="aws")
    return sync_to_async(_respond_in_thread, thread_sensitive=False, executor=pool)


def _not_found(arrived: ArrivedRequest, request_id: str, *, oversize: bool = False) -> ApiResponse:
    error: AwsError = ResourceNotFound(
        f"No AWS API lives at {arrived.raw_path}: point the SDK's endpoint at the /aws prefix."
    )
    if oversize:
        error = RequestTooLarge("The request body is larger than this server accepts.")
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
        headers = _headers(scope)
        origin = headers.get("origin")
        if scope["method"] == "OPTIONS":
            await self._send(send, ApiResponse(204, "text/plain", b""), origin, preflight=True)
            return
        arrived = _arrived(scope, headers, await self._read_body(receive))
        request_id = str(uuid.uuid4())
        route = self._route(scope["path"])

        def proceed() -> Awaitable[ApiResponse]:
            return _in_thread()(route, arrived, request_id)

        try:
            if self.admit is not None:
                response = await self.admit(arrived, scope, proceed)
            else:
                response = await proceed()
        except Exception as fault:  # the protocols answer every error: this is a last resort
            logger.exception("no answer for %s", arrived.raw_path)
            response = render.cognito_identity_error(internal_failure(fault))
        response.headers["x-amzn-RequestId"] = request_id
        await self._send(send, response, origin)

    def too_large(self, scope) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """(status, headers, body) of the answer to a request whose body is over
        COGNATE_MAX_BODY_BYTES, in the shape of the protocol it was sent in, from its path and
        headers alone: it needs neither the body nor the database."""
        headers = _headers(scope)
        request_id = str(uuid.uuid4())
        response = self._route(scope["path"])(
            _arrived(scope, headers, b""), request_id, oversize=True
        )
        response.headers["x-amzn-RequestId"] = request_id
        return response.status, _response_headers(response, headers.get("origin")), response.body

    @staticmethod
    async def _read_body(receive) -> bytes:
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        return b"".join(chunks)

    @staticmethod
    async def _send(send, response: ApiResponse, origin: str | None, preflight=False) -> None:
        headers = _response_headers(response, origin, preflight)
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})


def _headers(scope) -> dict[str, str]:
    return {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
    }


def _arrived(scope, headers: dict[str, str], body: bytes) -> ArrivedRequest:
    raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    return ArrivedRequest(
        method=scope["method"],
        raw_path=raw_path.split("?", 1)[0],
        raw_query=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=body,
    )


def _response_headers(
    response: ApiResponse, origin: str | None, preflight: bool = False
) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-type", response.content_type.encode()),
        (b"content-length", str(len(response.body)).encode()),
        # Browser SDKs read the server's clock from Date (exposed to pages by CORS);
        # daphne sends none of its own, and uvicorn runs with --no-date-header.
        (b"date", formatdate(usegmt=True).encode()),
    ]
    headers += [(k.encode(), v.encode("latin-1")) for k, v in response.headers.items()]
    return headers + _cors_headers(origin, preflight)


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
