"""Open sockets on the dashboard: each process publishes its authenticated sockets per pool
to the cache; the count rises as devices connect and falls as they leave."""

import asyncio
import importlib.util
import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from config.asgi import application
from identity import selectors, services, tokens
from syncstore import usage

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True, scope="module")
def _close_thread_connections():
    yield
    from django.db import connections

    asyncio.run(sync_to_async(connections.close_all)())


@sync_to_async
def new_identity(pool_id: str):
    return services.identity_create_guest(pool=selectors.pool_view(pool_id))


@sync_to_async
def new_pool():
    return services.pool_create(name="Sockets on the dashboard", allow_unauthenticated=True).id


@sync_to_async
def token_for(identity) -> str:
    return tokens.openid_token_issue(
        identity_id=identity.id, pool_id=identity.pool_id, amr=["unauthenticated"], lifetime=600
    )


async def open_device(identity, *, authenticate: bool = True) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/ws/sync", subprotocols=["cognate.sync.v1"])
    connected, _ = await communicator.connect()
    assert connected
    if authenticate:
        await communicator.send_json_to(
            {"type": "auth", "id": "a", "token": await token_for(identity)}
        )
        assert (await communicator.receive_json_from())["type"] == "ready"
    return communicator


sockets = sync_to_async(usage.pool_sockets)


async def test_open_sockets_rise_as_devices_connect_and_fall_as_they_leave():
    pool_id, other_pool_id = await new_pool(), await new_pool()
    alice, bob = await new_identity(pool_id), await new_identity(pool_id)
    stranger = await new_identity(other_pool_id)
    assert await sockets(pool_id) == 0

    first = await open_device(alice)
    assert await sockets(pool_id) == 1
    second = await open_device(alice)
    third = await open_device(bob)
    elsewhere = await open_device(stranger)
    unauthenticated = await open_device(None, authenticate=False)
    assert await sockets(pool_id) == 3  # not the other pool's, nor one not yet signed in
    assert await sockets(other_pool_id) == 1

    await second.disconnect()
    assert await sockets(pool_id) == 2
    for communicator in (first, third, elsewhere, unauthenticated):
        await communicator.disconnect()
    assert await sockets(pool_id) == 0
    assert await sockets(other_pool_id) == 0


async def test_a_socket_refused_for_too_many_is_not_counted(settings):
    settings.SYNC_WS_MAX_SOCKETS_PER_IDENTITY = 1
    pool_id = await new_pool()
    alice = await new_identity(pool_id)
    first = await open_device(alice)
    refused = await open_device(alice, authenticate=False)
    await refused.send_json_to({"type": "auth", "id": "b", "token": await token_for(alice)})
    assert (await refused.receive_json_from())["code"] == "LimitExceededException"
    assert (await refused.receive_output())["type"] == "websocket.close"
    assert await sockets(pool_id) == 1
    await refused.disconnect()
    await first.disconnect()
    assert await sockets(pool_id) == 0


def another_process():
    """syncstore.usage as another server process runs it: its own process id and counts,
    published to the same cache."""
    spec = importlib.util.find_spec("syncstore.usage")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Later:
    """The `time` a module sees, `ahead` seconds on (its monotonic clock left as it is)."""

    monotonic = staticmethod(time.monotonic)

    def __init__(self, ahead: float):
        self.ahead = ahead

    def time(self) -> float:
        return time.time() + self.ahead


async def test_sockets_of_other_processes_count_until_they_stop_publishing(monkeypatch):
    """Another server process publishes its own count; when it dies, its sockets stop counting
    once its last snapshot is older than a living process's can be. A living process
    publishes again as its devices talk, so every process's dashboard counts it again."""
    monkeypatch.setattr(usage, "SOCKETS_REFRESH", 0.0)  # each message from a device publishes
    pool_id = await new_pool()
    alice = await new_identity(pool_id)
    mine = await open_device(alice)

    other = another_process()
    for _ in range(4):
        await other.socket_opened(pool_id=pool_id)
    assert await sockets(pool_id) == 5
    assert await sync_to_async(other.pool_sockets)(pool_id) == 5  # its dashboard: the same

    # The other process dies. A day on, its last snapshot no longer counts; this one's does.
    a_day_on = Later(86400)
    monkeypatch.setattr(usage, "time", a_day_on)
    assert await sockets(pool_id) == 1

    # A third process's dashboard sees no living process until this one's devices talk.
    dashboard = another_process()
    dashboard.time = a_day_on
    dashboard_sockets = sync_to_async(dashboard.pool_sockets)
    assert await dashboard_sockets(pool_id) == 0
    await mine.send_json_to({"type": "ping", "id": "p"})
    assert (await mine.receive_json_from())["type"] == "pong"
    assert await dashboard_sockets(pool_id) == 1
    await mine.disconnect()
    assert await sockets(pool_id) == 0
    assert await dashboard_sockets(pool_id) == 0
