"""The /ws/sync protocol through Channels' WebsocketCommunicator: every message type and
error, two devices of one identity, and a device of another identity that hears nothing.
With REDIS_URL set (CI) the events travel through the Redis channel layer."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from aws.shapes import MAX_JSON_DEPTH, service_model
from config.asgi import application
from identity import selectors, services, tokens
from syncstore import services as sync_services
from tests.support.shapes import strategy

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True, scope="module")
def _close_thread_connections():
    """The consumer's database work runs in asgiref's thread; close its connection after
    these tests so the test database can be dropped."""
    yield
    from django.db import connections

    asyncio.run(sync_to_async(connections.close_all)())


@sync_to_async
def new_identity(pool_id: str | None = None):
    if pool_id is None:
        pool_id = services.pool_create(name="Sockets", allow_unauthenticated=True).id
    return services.identity_create_guest(pool=selectors.pool_view(pool_id))


@sync_to_async
def token_for(identity, lifetime: int = 600) -> str:
    return tokens.openid_token_issue(
        identity_id=identity.id,
        pool_id=identity.pool_id,
        amr=["unauthenticated"],
        lifetime=lifetime,
    )


async def open_socket(token: str | None = None, *, subprotocol: bool = False, headers=None):
    protocols = ["cognate.sync.v1"] + ([f"bearer.{token}"] if subprotocol and token else [])
    communicator = WebsocketCommunicator(
        application, "/ws/sync", subprotocols=protocols, headers=headers or []
    )
    connected, protocol = await communicator.connect()
    assert connected
    assert protocol == "cognate.sync.v1"
    if token and not subprotocol:
        await communicator.send_json_to({"type": "auth", "id": "a", "token": token})
    if token:
        ready = await communicator.receive_json_from()
        assert ready["type"] == "ready", ready
    return communicator


async def device(identity, **kwargs):
    return await open_socket(await token_for(identity), **kwargs)


async def request(communicator, message: dict) -> dict:
    await communicator.send_json_to(message)
    while True:
        reply = await communicator.receive_json_from(timeout=5)
        if reply.get("id") == message.get("id"):
            return reply


def patch(key, value, count=0):
    return {"Op": "replace", "Key": key, "Value": value, "SyncCount": count}


async def closed_with(communicator) -> int:
    while True:
        output = await communicator.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output["code"]


async def test_auth_by_first_message_and_by_subprotocol():
    identity = await new_identity()
    for subprotocol in (False, True):
        socket = await open_socket(await token_for(identity), subprotocol=subprotocol)
        assert await request(socket, {"type": "ping", "id": "p"}) == {"type": "pong", "id": "p"}
        await socket.disconnect()


async def test_ready_names_the_identity_and_expiry():
    identity = await new_identity()
    socket = await open_socket()
    await socket.send_json_to({"type": "auth", "id": 1, "token": await token_for(identity)})
    ready = await socket.receive_json_from()
    assert ready["identityId"] == identity.id and ready["identityPoolId"] == identity.pool_id
    assert ready["id"] == 1 and ready["expiresAt"] > 0
    await socket.disconnect()


async def test_bad_token_is_refused_and_closed():
    socket = await open_socket()
    await socket.send_json_to({"type": "auth", "id": "x", "token": "not-a-token"})
    error = await socket.receive_json_from()
    assert (error["type"], error["id"], error["code"]) == (
        "error",
        "x",
        "UnrecognizedClientException",
    )
    assert await closed_with(socket) == 4401


async def test_messages_before_auth_are_refused():
    socket = await open_socket()
    await socket.send_json_to({"type": "pull", "id": 1, "dataset": "notes"})
    error = await socket.receive_json_from()
    assert error["code"] == "MissingAuthenticationTokenException"
    assert await closed_with(socket) == 4401


async def test_no_auth_in_time_closes(settings):
    settings.SYNC_WS_AUTH_TIMEOUT = 0.2
    socket = await open_socket()
    assert await closed_with(socket) == 4401


async def test_pull_push_and_the_other_device_hears_it():
    identity = await new_identity()
    stranger = await new_identity(identity.pool_id)
    phone, laptop = await device(identity), await device(identity)
    other = await device(stranger)

    empty = await request(phone, {"type": "pull", "id": 1, "dataset": "notes", "since": 0})
    assert (empty["exists"], empty["syncCount"], empty["records"]) == (False, 0, [])

    pushed = await request(
        phone,
        {
            "type": "push",
            "id": 2,
            "dataset": "notes",
            "patches": [patch("title", "Hello")],
            "deviceId": "phone",
        },
    )
    assert pushed["syncCount"] == 1
    assert [(r["Key"], r["Value"], r["SyncCount"]) for r in pushed["records"]] == [
        ("title", "Hello", 1)
    ]
    changed = await laptop.receive_json_from(timeout=5)
    assert changed["type"] == "changed" and changed["dataset"] == "notes"
    assert changed["syncCount"] == 1
    assert changed["records"][0]["Value"] == "Hello"
    assert changed["records"][0]["LastModifiedBy"] == "phone"
    assert await other.receive_nothing(timeout=0.3)

    pulled = await request(laptop, {"type": "pull", "id": 3, "dataset": "notes", "since": 0})
    assert [(r["Key"], r["Value"]) for r in pulled["records"]] == [("title", "Hello")]
    assert await request(laptop, {"type": "pull", "id": 4, "dataset": "notes", "since": 1}) == {
        "type": "records",
        "id": 4,
        "dataset": "notes",
        "exists": True,
        "syncCount": 1,
        "deletedAfterSince": False,
        "records": [],
        "next": None,
        "mergedDatasets": [],
    }
    for socket in (phone, laptop, other):
        await socket.disconnect()


async def test_conflicting_push_is_refused_whole_and_names_every_conflict():
    identity = await new_identity()
    socket = await device(identity)
    await request(
        socket,
        {"type": "push", "id": 1, "dataset": "d", "patches": [patch("a", "1"), patch("b", "1")]},
    )
    refused = await request(
        socket,
        {
            "type": "push",
            "id": 2,
            "dataset": "d",
            "patches": [patch("a", "2", 1), patch("b", "2"), patch("c", "new")],
        },
    )
    assert refused["type"] == "error" and refused["code"] == "ResourceConflictException"
    assert refused["message"] == "Current SyncCount for: b is: 1 not: 0"
    assert refused["conflicts"] == [{"Key": "b", "SyncCount": 1, "SentSyncCount": 0}]
    pulled = await request(socket, {"type": "pull", "id": 3, "dataset": "d", "since": 0})
    assert pulled["syncCount"] == 1
    assert {r["Key"]: r["Value"] for r in pulled["records"]} == {"a": "1", "b": "1"}
    await socket.disconnect()


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (
            {
                "type": "push",
                "id": 1,
                "dataset": "d",
                "patches": [{"Op": "set", "Key": "k", "SyncCount": 0}],
            },
            "InvalidParameterException",
        ),
        ({"type": "push", "id": 1, "dataset": "d", "patches": "nope"}, "InvalidParameterException"),
        ({"type": "pull", "id": 1, "dataset": "d", "since": "zero"}, "InvalidParameterException"),
        ({"type": "pull", "id": 1}, "InvalidParameterException"),
        (
            {"type": "pull", "id": 1, "dataset": "bad name!", "since": 0},
            "InvalidParameterException",
        ),
        ({"type": "teleport", "id": 1}, "UnknownOperationException"),
    ],
)
async def test_bad_messages_get_errors_and_the_socket_stays(message, code):
    identity = await new_identity()
    socket = await device(identity)
    reply = await request(socket, message)
    assert (reply["type"], reply["code"]) == ("error", code), reply
    assert await request(socket, {"type": "ping", "id": "still"}) == {"type": "pong", "id": "still"}
    await socket.disconnect()


async def test_invalid_json_is_a_serialization_error():
    identity = await new_identity()
    socket = await device(identity)
    await socket.send_to(text_data="{not json")
    reply = await socket.receive_json_from()
    assert reply["code"] == "SerializationException"
    await socket.disconnect()


async def test_writes_through_the_http_services_reach_sockets_and_rollbacks_do_not():
    identity = await new_identity()
    socket = await device(identity)

    @sync_to_async
    def rolled_back_write():
        with pytest.raises(RuntimeError), transaction.atomic():
            sync_services.records_update(
                identity=identity,
                dataset_name="d",
                patches=[sync_services.Patch("k", "replace", "v", 0)],
                modified_by="api",
            )
            raise RuntimeError("abandon")

    await rolled_back_write()
    assert await socket.receive_nothing(timeout=0.3)

    @sync_to_async
    def committed_write():
        sync_services.records_update(
            identity=identity,
            dataset_name="d",
            patches=[sync_services.Patch("k", "replace", "v", 0)],
            modified_by="api",
        )

    await committed_write()
    changed = await socket.receive_json_from(timeout=5)
    assert (changed["type"], changed["syncCount"], changed["records"][0]["Key"]) == (
        "changed",
        1,
        "k",
    )
    await socket.disconnect()


async def test_large_changes_come_without_records(settings):
    settings.SYNC_WS_EVENT_RECORDS_MAX_BYTES = 100
    identity = await new_identity()
    phone, laptop = await device(identity), await device(identity)
    await request(
        phone, {"type": "push", "id": 1, "dataset": "d", "patches": [patch("big", "x" * 500)]}
    )
    changed = await laptop.receive_json_from(timeout=5)
    assert changed["records"] is None and changed["syncCount"] == 1
    await phone.disconnect()
    await laptop.disconnect()


async def test_deleted_datasets_and_merges_are_announced():
    identity = await new_identity()
    survivor = await new_identity(identity.pool_id)
    socket, kept = await device(identity), await device(survivor)
    await request(socket, {"type": "push", "id": 1, "dataset": "d", "patches": [patch("k", "v")]})
    assert (await socket.receive_json_from(timeout=5))["type"] == "changed"

    await sync_to_async(sync_services.dataset_delete)(identity=identity, dataset_name="d")
    assert await socket.receive_json_from(timeout=5) == {
        "type": "deleted",
        "dataset": "d",
        "syncCount": 1,
    }

    await request(socket, {"type": "push", "id": 2, "dataset": "d", "patches": [patch("k", "w")]})
    assert (await socket.receive_json_from(timeout=5))["type"] == "changed"

    # The merge service itself announces the merge, once its transaction commits.
    await sync_to_async(services.identity_merge)(
        merged=identity, survivor=survivor, trigger="test", logins=[]
    )
    merged = {"type": "merged", "from": identity.id, "into": survivor.id, "datasets": ["d"]}
    assert await socket.receive_json_from(timeout=5) == merged
    assert await closed_with(socket) == 4403
    carried = await kept.receive_json_from(timeout=5)  # the survivor's "d" got the guest's key
    assert carried["type"] == "changed" and carried["dataset"] == "d"
    assert await kept.receive_json_from(timeout=5) == merged
    assert await request(kept, {"type": "ping", "id": 1}) == {"type": "pong", "id": 1}
    await kept.disconnect()


async def test_revoked_identity_is_told_and_closed():
    identity = await new_identity()
    socket = await device(identity)
    await sync_to_async(services.identity_revoke_credentials)(identity=identity)
    assert await socket.receive_json_from(timeout=5) == {"type": "revoked", "reason": "revoked"}
    assert await closed_with(socket) == 4403


async def test_token_renewal_and_expiry():
    identity = await new_identity()
    socket = await open_socket(await token_for(identity, lifetime=1))
    renewed = await request(
        socket, {"type": "auth", "id": "r", "token": await token_for(identity, lifetime=4)}
    )
    assert renewed["type"] == "renewed" and renewed["expiresAt"] > 0
    other = await new_identity(identity.pool_id)
    refused = await request(socket, {"type": "auth", "id": "o", "token": await token_for(other)})
    assert refused["code"] == "NotAuthorizedException"
    await asyncio.sleep(1.2)
    assert await request(socket, {"type": "ping", "id": "alive"}) == {"type": "pong", "id": "alive"}
    assert await closed_with(socket) == 4401


async def test_limits(settings):
    settings.SYNC_WS_MAX_SOCKETS_PER_IDENTITY = 2
    settings.SYNC_WS_PUSH_BURST = 2
    settings.SYNC_WS_PUSHES_PER_SECOND = 0.01
    settings.SYNC_WS_MAX_MESSAGE_BYTES = 2000
    identity = await new_identity()
    first, second = await device(identity), await device(identity)
    third = await open_socket()
    await third.send_json_to({"type": "auth", "id": 1, "token": await token_for(identity)})
    assert (await third.receive_json_from())["code"] == "LimitExceededException"
    assert await closed_with(third) == 4429

    for n in range(2):
        ok = await request(
            first, {"type": "push", "id": n, "dataset": "d", "patches": [patch(f"k{n}", "v")]}
        )
        assert ok["type"] == "pushed"
    limited = await request(
        first, {"type": "push", "id": 9, "dataset": "d", "patches": [patch("k9", "v")]}
    )
    assert limited["code"] == "TooManyRequestsException"
    # The rate is per socket: the other device may still push.
    assert (
        await request(
            second, {"type": "push", "id": 1, "dataset": "e", "patches": [patch("k", "v")]}
        )
    )["type"] == "pushed"

    await first.send_to(text_data=json.dumps({"type": "ping", "pad": "x" * 3000}))
    assert await closed_with(first) == 1009
    await second.disconnect()


async def test_idle_sockets_are_closed(settings):
    settings.SYNC_WS_IDLE_TIMEOUT = 0.3
    identity = await new_identity()
    socket = await device(identity)
    assert await closed_with(socket) == 4408


async def test_a_socket_that_keeps_talking_stays_open(settings):
    settings.SYNC_WS_IDLE_TIMEOUT = 0.5
    socket = await device(await new_identity())
    for n in range(6):  # 1.2 s in all, each message within the timeout of the one before
        await asyncio.sleep(0.2)
        assert await request(socket, {"type": "ping", "id": n}) == {"type": "pong", "id": n}
    assert await closed_with(socket) == 4408


async def test_a_push_is_answered_before_its_own_change_is_announced():
    identity = await new_identity()
    phone = await device(identity)
    for n in range(3):
        await phone.send_json_to(
            {"type": "push", "id": n, "dataset": "d", "patches": [patch(f"k{n}", "v")]}
        )
        pushed = await phone.receive_json_from(timeout=5)
        changed = await phone.receive_json_from(timeout=5)
        assert (pushed["type"], pushed["id"], pushed["syncCount"]) == ("pushed", n, n + 1)
        assert (changed["type"], changed["syncCount"]) == ("changed", n + 1)
    await phone.disconnect()


async def test_sockets_come_and_go_and_those_open_still_hear(settings):
    settings.SYNC_WS_MAX_SOCKETS_PER_IDENTITY = 2
    identity = await new_identity()
    stranger = await new_identity(identity.pool_id)

    @sync_to_async
    def write(key):
        sync_services.records_update(
            identity=identity,
            dataset_name="d",
            patches=[sync_services.Patch(key=key, op="replace", value="v", sync_count=0)],
            modified_by="http",
        )

    async def hears(socket, key):
        changed = await socket.receive_json_from(timeout=5)
        return changed["type"] == "changed" and changed["records"][0]["Key"] == key

    # The last socket of an identity closes, and a new one opens: it hears.
    first = await device(identity)
    await first.disconnect()
    second = await device(identity)
    await write("a")
    assert await hears(second, "a")

    # One of two closes: the other still hears, and its place can be taken again.
    third = await device(identity)
    other = await device(stranger)
    await second.disconnect()
    await write("b")
    assert await hears(third, "b")
    fourth = await device(identity)
    await write("c")
    assert await hears(third, "c") and await hears(fourth, "c")
    assert await other.receive_nothing(timeout=0.3)
    for socket in (third, fourth, other):
        await socket.disconnect()


async def test_a_socket_open_longer_than_the_layers_group_expiry_still_hears(settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"group_expiry": 2},
        }
    }
    identity = await new_identity()
    socket = await device(identity)
    await asyncio.sleep(3.5)
    await sync_to_async(sync_services.records_update)(
        identity=identity,
        dataset_name="d",
        patches=[sync_services.Patch(key="k", op="replace", value="v", sync_count=0)],
        modified_by="http",
    )
    changed = await socket.receive_json_from(timeout=5)
    assert (changed["type"], changed["syncCount"]) == ("changed", 1)
    await socket.disconnect()


async def test_pages_from_other_sites_cannot_open_sockets():
    page = WebsocketCommunicator(
        application, "/ws/sync", headers=[(b"origin", b"https://evil.example")]
    )
    connected, _ = await page.connect()
    assert not connected
    own = WebsocketCommunicator(
        application, "/ws/sync", headers=[(b"origin", b"http://127.0.0.1:8000")]
    )
    connected, _ = await own.connect()
    assert connected
    await own.disconnect()


async def test_what_the_role_denies_is_not_authorized_over_the_socket():
    identity = await new_identity()

    @sync_to_async
    def deny_the_secret_dataset():
        from identity.models import Role

        role = Role.objects.get(pk=identity.pool.unauthenticated_role_id)
        statement = {
            "Effect": "Deny",
            "Action": "cognito-sync:*",
            "Resource": "arn:aws:cognito-sync:*:*:identitypool/*/identity/*/dataset/secret",
        }
        policy = {**role.policy, "Statement": [*role.policy["Statement"], statement]}
        services.role_update(role=role, policy=policy)

    await deny_the_secret_dataset()
    socket = await device(identity)
    for message in (
        {"type": "pull", "id": "p", "dataset": "secret", "since": 0},
        {"type": "push", "id": "u", "dataset": "secret", "patches": [patch("k", "v")]},
    ):
        refused = await request(socket, message)
        assert refused["code"] == "NotAuthorizedException", refused
        assert "/dataset/secret" in refused["message"]
    pulled = await request(socket, {"type": "pull", "id": "n", "dataset": "notes", "since": 0})
    assert pulled["type"] == "records"
    await socket.disconnect()


# --- Hostile messages (issue: no 5xx from any request) ---------------------------------


async def test_a_socket_message_nested_too_deep_is_refused_and_closed_1007():
    socket = await device(await new_identity())
    await socket.send_to(text_data='{"type": "ping", "x": ' + "[" * 2000 + "]" * 2000 + "}")
    reply = await socket.receive_json_from(timeout=5)
    assert reply["code"] == "SerializationException"
    assert f"deeper than {MAX_JSON_DEPTH} levels" in reply["message"]
    assert await closed_with(socket) == 1007


async def test_a_socket_push_of_a_lone_surrogate_is_refused_and_the_socket_stays():
    identity = await new_identity()
    socket = await device(identity)
    patch = {"Op": "replace", "Key": "k", "Value": "\ud800", "SyncCount": 0}
    refused = await request(socket, {"type": "push", "id": 1, "dataset": "d", "patches": [patch]})
    assert refused["code"] == "InvalidParameterException", refused
    assert "lone surrogate" in refused["message"]
    patch["Value"] = "a\x00b"
    pushed = await request(socket, {"type": "push", "id": 2, "dataset": "d", "patches": [patch]})
    assert pushed["records"][0]["Value"] == "a\x00b"
    pulled = await request(socket, {"type": "pull", "id": 3, "dataset": "d", "since": 0})
    assert pulled["records"][0]["Value"] == "a\x00b"
    await socket.disconnect()


def generated(strategy, count: int) -> list:
    """`count` examples of a Hypothesis strategy, drawn up front (for async tests)."""
    drawn: list = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value):
        drawn.append(value)

    collect()
    return drawn


_PATCH = strategy(service_model("cognito-sync").shape_for("RecordPatch"))
MESSAGES = st.fixed_dictionaries(
    {"type": st.sampled_from(["auth", "ping", "pull", "push", "teleport"])},
    optional={
        "id": st.one_of(st.integers(), st.text(max_size=5), st.none()),
        "dataset": st.one_of(st.sampled_from(["notes", "a\x00", "\ud800", ""]), st.text()),
        "since": st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.text()),
        "next": st.one_of(st.text(max_size=20), st.sampled_from(["\ud800", "\x00"])),
        "patches": st.one_of(st.lists(_PATCH, max_size=3), st.text()),
        "deviceId": st.one_of(st.text(max_size=20), st.sampled_from(["\ud800", "\x00", ""])),
        "token": st.one_of(st.text(max_size=20), st.sampled_from(["\ud800", "a.b.c"])),
    },
)


async def test_no_generated_socket_message_fails_the_server():
    identity = await new_identity()
    messages = generated(MESSAGES, 150)
    socket = await device(identity)
    for number, message in enumerate(messages):
        await socket.send_to(text_data=json.dumps(message))
        await socket.send_to(text_data=json.dumps({"type": "ping", "id": f"after-{number}"}))
        while True:
            reply = await socket.receive_output(timeout=5)
            if reply["type"] == "websocket.close":
                assert reply.get("code") not in (1011, None), (message, reply)
                socket = await device(identity)
                break
            answer = json.loads(reply["text"])
            assert answer.get("code") != "InternalErrorException", (message, answer)
            if answer == {"type": "pong", "id": f"after-{number}"}:
                break
    await socket.disconnect()
