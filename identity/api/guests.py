"""Guest floods, held off before the database threads: the `admit` hook config.routing gives
the AWS gateway (docs/operations.md, "Guest limits").

The limits are checked on the event loop, before the hop into the threads that do the
database work: a spent limit from this process's memory, else the cache in a thread of its
own. A refused call never waits behind other callers' queries, nor they behind it. One
thread, because the file cache of the embedded defaults counts by read-then-write: calls
from several threads at once would lose counts (Redis counts atomically either way)."""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async

from aws import render, shapes
from aws.errors import AwsError, TooManyRequests
from aws.render import ApiResponse
from aws.rpc import TARGET_PREFIX
from aws.sigv4 import ArrivedRequest
from identity import ratelimit, services

_guest_quota_take = sync_to_async(
    services.guest_quota_take,
    thread_sensitive=False,
    executor=ThreadPoolExecutor(max_workers=1, thread_name_prefix="guest-limits"),
)
# Guests one client address may have in the database threads' queue at a time (per
# process): those it is allowed still wait their turn here, so a burst from one address
# cannot make every other caller queue behind it.
GUESTS_AT_ONCE_PER_ADDRESS = 2
_guest_turns: dict[str, tuple[asyncio.Semaphore, int]] = {}


async def admit(
    arrived: ArrivedRequest, scope: dict, proceed: Callable[[], Awaitable[ApiResponse]]
) -> ApiResponse:
    """The gateway's `admit` hook. A GetId without Logins makes a new guest: it takes from
    the guest limits of its client address and pool first (429 beyond), then waits for its
    address's turn. Every other request proceeds."""
    params = _guest_get_id(arrived)
    if params is None:
        return await proceed()
    address = _client_address(scope)
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


def _client_address(scope: dict) -> str:
    peer = (scope.get("client") or ("", 0))[0]
    forwarded = [
        value.decode("latin-1") for name, value in scope["headers"] if name == b"x-forwarded-for"
    ]
    return ratelimit.client_address(peer, ",".join(forwarded))


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
