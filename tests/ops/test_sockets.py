"""Open sockets on the dashboard: each process publishes its authenticated sockets per pool
to the cache; the count rises as devices connect and falls as they leave."""

import asyncio
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


async def open_device(identity, *, authenticate: bool = True) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/ws/sync", subprotocols=["cognate.sync.v1"])
    connected, _ = await communicator.connect()
    assert connected
    if authenticate:
        token = await sync_to_async(tokens.openid_token_issue)(
            identity_id=identity.id, pool_id=identity.pool_id, amr=["unauthenticated"], lifetime=600
        )
        await communicator.send_json_to({"type": "auth", "id": "a", "token": token})
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
    token = await sync_to_async(tokens.openid_token_issue)(
        identity_id=alice.id, pool_id=pool_id, amr=["unauthenticated"], lifetime=600
    )
    await refused.send_json_to({"type": "auth", "id": "b", "token": token})
    assert (await refused.receive_json_from())["code"] == "LimitExceededException"
    assert (await refused.receive_output())["type"] == "websocket.close"
    assert await sockets(pool_id) == 1
    await refused.disconnect()
    await first.disconnect()
    assert await sockets(pool_id) == 0


async def test_sockets_of_other_processes_count_until_their_snapshot_expires(monkeypatch):
    """Another server process publishes its own count; when it dies, its key expires and
    its sockets stop counting. A living process writes its count again as its devices talk."""
    from django.core.cache import cache

    pool_id = await new_pool()
    alice = await new_identity(pool_id)
    mine = await open_device(alice)

    other = "another-process"

    def publish_for_another_process():
        registry = cache.get(usage.REGISTRY_KEY) or {}
        cache.set(usage.REGISTRY_KEY, {**registry, other: time.time()}, 600)
        cache.set(usage._sockets_key(other), {pool_id: 4}, 600)

    await sync_to_async(publish_for_another_process)()
    assert await sockets(pool_id) == 5

    await sync_to_async(cache.delete)(usage._sockets_key(other))  # it expired
    assert await sockets(pool_id) == 1

    await sync_to_async(cache.delete)(usage._sockets_key(usage.PROCESS))  # as if expired
    assert await sockets(pool_id) == 0
    monkeypatch.setattr(usage, "SOCKETS_REFRESH", 0.0)
    await mine.send_json_to({"type": "ping", "id": "p"})
    assert (await mine.receive_json_from())["type"] == "pong"
    assert await sockets(pool_id) == 1
    await mine.disconnect()
    assert await sockets(pool_id) == 0
