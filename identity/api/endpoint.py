"""The RPC protocols at `/aws` (reference §1.1). Requests with an
`X-Amz-Target` header are AWS JSON 1.1 (Cognito Identity); form-encoded bodies with an
`Action` are the query protocol (STS). Every answer, error or not, is in the protocol's
shape; a real fault is logged and answered with InternalErrorException (500)."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import parse_qsl

from asgiref.sync import sync_to_async
from django.conf import settings

from identity import services, shapes
from identity.api import cognito_identity, iam, render, sts
from identity.api import query as query_params
from identity.api.render import ApiResponse
from identity.auth import authenticate
from identity.errors import (
    AwsError,
    InvalidParameter,
    RequestTooLarge,
    SerializationFailed,
    TooManyRequests,
    UnknownOperation,
    internal_failure,
)
from identity.sigv4 import ArrivedRequest

logger = logging.getLogger(__name__)

TARGET_PREFIX = "AWSCognitoIdentityService."
JSON_TYPES = {"application/x-amz-json-1.1", "application/x-amz-json-1.0", "application/json"}
FORM_TYPE = "application/x-www-form-urlencoded"


# --- AWS JSON 1.1: Cognito Identity -----------------------------------------------------------
def handle_cognito_identity(arrived: ArrivedRequest, target: str, kind: str) -> dict:
    name = target.removeprefix(TARGET_PREFIX)
    operation = shapes.operation_model("cognito-identity", name)
    handler = cognito_identity.HANDLERS.get(name)
    if not target.startswith(TARGET_PREFIX) or operation is None:
        raise UnknownOperation(
            f"Unknown operation {target!r}: the X-Amz-Target header must be "
            f"{TARGET_PREFIX}<Operation> with an operation of Cognito Identity."
        )
    if handler is None:
        raise UnknownOperation(f"The operation {name} is not supported by this server.")
    if kind not in JSON_TYPES:
        raise SerializationFailed(
            f"Content-Type {kind or '(none)'!r} is not accepted here: AWS JSON requests must be "
            "sent as application/x-amz-json-1.1."
        )
    params = shapes.load_json(arrived.body or b"{}")
    if not isinstance(params, dict):
        raise SerializationFailed("The request body must be a JSON object.")
    caller = None
    if operation.auth_type != "none":
        caller = authenticate(arrived, service="cognito-identity")
    shapes.validate(operation.input_shape, params)
    return handler(caller, params)


# --- Before the database thread: the guest limits -------------------------------------------
# The limits are checked on the event loop, before the hop into the one thread that does the
# database work: a spent limit from this process's memory, else the cache in a thread of its
# own. A refused call never waits behind other callers' queries, nor they behind it. One
# thread, because the file cache of the embedded defaults counts by read-then-write: calls
# from several threads at once would lose counts (Redis counts atomically either way).
_guest_quota_take = sync_to_async(
    services.guest_quota_take,
    thread_sensitive=False,
    executor=ThreadPoolExecutor(max_workers=1, thread_name_prefix="guest-limits"),
)
# Guests one client address may have in the database thread's queue at a time (per
# process): those it is allowed still wait their turn here, so a burst from one address
# cannot make every other caller queue behind it.
GUESTS_AT_ONCE_PER_ADDRESS = 2
_guest_turns: dict[str, tuple[asyncio.Semaphore, int]] = {}


async def admit(
    arrived: ArrivedRequest, address: str, proceed: Callable[[], Awaitable[ApiResponse]]
) -> ApiResponse:
    """A GetId without Logins makes a new guest: it takes from the guest limits of its client
    address and pool first (429 beyond), then waits for its address's turn."""
    params = _guest_get_id(arrived)
    if params is None:
        return await proceed()
    pool_id = params.get("IdentityPoolId")
    pool = pool_id if isinstance(pool_id, str) else None  # validated later, in respond()
    refusal = services.guest_quota_refusal(pool_id=pool, address=address)
    if refusal is None:
        try:
            await _guest_quota_take(pool_id=pool, address=address)
        except TooManyRequests as error:
            refusal = error
    if refusal is not None:
        return render.cognito_identity_error(refusal)
    async with _turn(address):
        return await proceed()


def _guest_get_id(arrived: ArrivedRequest) -> dict | None:
    """The parameters of a GetId without Logins; None for any other request."""
    if arrived.headers.get("x-amz-target") != TARGET_PREFIX + "GetId":
        return None
    try:
        params = shapes.load_json(arrived.body or b"{}")
    except AwsError:
        return None  # respond() answers it
    if not isinstance(params, dict) or params.get("Logins"):
        return None
    return params


@contextlib.asynccontextmanager
async def _turn(address: str):
    semaphore, waiting = _guest_turns.get(address, (None, 0))
    if semaphore is None:
        semaphore = asyncio.Semaphore(GUESTS_AT_ONCE_PER_ADDRESS)
    _guest_turns[address] = (semaphore, waiting + 1)
    try:
        async with semaphore:
            yield
    finally:
        semaphore, waiting = _guest_turns[address]
        if waiting == 1:
            del _guest_turns[address]
        else:
            _guest_turns[address] = (semaphore, waiting - 1)


# --- Query protocol: STS and IAM ---------------------------------------------------------------
@dataclass(frozen=True)
class QueryService:
    name: str
    handlers: dict
    version: str
    namespace: str


QUERY_SERVICES = (
    QueryService("sts", sts.HANDLERS, sts.VERSION, sts.NAMESPACE),
    QueryService("iam", iam.HANDLERS, iam.VERSION, iam.NAMESPACE),
)


def query_service(form: dict[str, str]) -> QueryService:
    """The query service an Action belongs to (STS first, as a client with no Version)."""
    action = form.get("Action", "")
    for service in QUERY_SERVICES:
        if action in service.handlers:
            return service
    raise UnknownOperation(
        f"Could not find operation {action or '(no Action)'} for version "
        f"{form.get('Version', '(none)')}. This endpoint serves the STS actions "
        f"{', '.join(sorted(sts.HANDLERS))} and the IAM actions "
        f"{', '.join(sorted(iam.HANDLERS))}."
    )


def read_form(arrived: ArrivedRequest) -> dict[str, str]:
    try:
        return dict(parse_qsl(arrived.body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise SerializationFailed("The form-encoded request body is not valid UTF-8.") from None


def handle_query(arrived: ArrivedRequest, form: dict[str, str], service: QueryService) -> dict:
    action = form["Action"]
    operation = shapes.operation_model(service.name, action)
    assert operation is not None
    version = form.get("Version")
    if version is not None and version != service.version:
        raise InvalidParameter(
            f"Version {version} is not supported for {action}; use {service.version}."
        )
    caller = None
    if operation.auth_type != "none":
        caller = authenticate(arrived, service=service.name)
    params = query_params.parse(operation.input_shape, form)
    shapes.validate(operation.input_shape, params)
    return service.handlers[action](caller, params)


def respond(arrived: ArrivedRequest, request_id: str, *, oversize: bool = False) -> ApiResponse:
    """Answer a request to the RPC endpoint, in the shape of the protocol it was sent in."""
    target = arrived.headers.get("x-amz-target")
    kind = arrived.headers.get("content-type", "").split(";")[0].strip().lower()
    protocol = "query" if not target and kind == FORM_TYPE else "json"
    service = QUERY_SERVICES[0]
    try:
        if oversize:
            raise RequestTooLarge(
                "The request body is larger than this server accepts "
                f"({settings.COGNATE_MAX_BODY_BYTES} bytes); send less data per request."
            )
        if arrived.method != "POST":
            raise UnknownOperation(
                f"{arrived.method} is not accepted here; AWS JSON and query requests are POSTed."
            )
        if protocol == "query":
            form = read_form(arrived)
            service = query_service(form)
            result = handle_query(arrived, form, service)
            return render.query_response(
                form["Action"], result, request_id, namespace=service.namespace
            )
        if not target:
            raise UnknownOperation(
                "The request names no operation: send an X-Amz-Target header (AWS JSON 1.1) or "
                "a form-encoded body with an Action (query protocol)."
            )
        return render.json_response(handle_cognito_identity(arrived, target, kind))
    except AwsError as error:
        failure = error
    except Exception as fault:
        logger.exception("failed to answer %s", arrived.raw_path)
        failure = internal_failure(fault)
    if protocol == "query":
        return render.query_error(
            failure, request_id, service=service.name, namespace=service.namespace
        )
    return render.cognito_identity_error(failure)
