"""What held when Cognate was probed as an attacker would, kept as tests: a server killed
with SIGKILL in the middle of an UpdateRecords leaves all of the update or none of it, and
a device whose server lost its Redis pub/sub connection still ends up knowing every
change."""

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import temporary_credentials
from tests.support import servers

POOL = "us-east-1:dec0de00-0000-4000-8000-000000000001"
BATCH = 1024  # the most patches one UpdateRecords carries, and the most records a dataset holds


def clients_for(url: str, identity_id: str | None = None) -> tuple[str, object, object]:
    """A guest of the demo pool (a new one unless `identity_id`): its id, a cognito-identity
    client and a cognito-sync client with its temporary credentials. No retries: a request
    the server did not answer is not sent again behind the test's back."""
    no_retries = Config(retries={"total_max_attempts": 1})
    identity = boto3.client(
        "cognito-identity",
        endpoint_url=f"{url}/aws",
        region_name="us-east-1",
        config=no_retries.merge(Config(signature_version=UNSIGNED)),
    )
    identity_id = identity_id or identity.get_id(IdentityPoolId=POOL)["IdentityId"]
    creds = identity.get_credentials_for_identity(IdentityId=identity_id)["Credentials"]
    sync = boto3.client(
        "cognito-sync",
        endpoint_url=f"{url}/aws",
        region_name="us-east-1",
        config=no_retries.merge(Config(read_timeout=60)),
        **temporary_credentials(creds),
    )
    return identity_id, identity, sync


def all_records(sync, where: dict) -> tuple[dict[str, tuple], int]:
    """Every record (tombstones too) as key: (value or None, sync count), and the dataset's
    sync count, through ListRecords page by page."""
    records: dict[str, tuple] = {}
    page: dict = {}
    for _ in range(BATCH):  # a page holds one record at least
        listed = sync.list_records(**where, LastSyncCount=0, **page)
        records.update({r["Key"]: (r.get("Value"), r["SyncCount"]) for r in listed["Records"]})
        if not listed.get("NextToken"):
            return records, listed["DatasetSyncCount"]
        page = {"NextToken": listed["NextToken"]}
    pytest.fail("ListRecords kept giving a NextToken")


# --- SIGKILL in the middle of an update ------------------------------------------------------
Moment = Callable[[], Callable[[], bool]]  # armed before the update: has the moment come?


@contextlib.contextmanager
def moments_in_the_update(database_url: str) -> Iterator[dict[str, Moment]]:
    """Moments to kill the server at, read from the database. On PostgreSQL, from
    pg_stat_activity: the update's transaction is open; its records' statement is done, or
    its dataset row's (the transaction not yet committed, or, were the update not one
    transaction, committed already). On SQLite: a write transaction holds the database (a
    BEGIN IMMEDIATE of our own is refused); something was committed (PRAGMA data_version)."""
    if database_url.startswith("sqlite:"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0)
        conn.isolation_level = None

        def writing() -> bool:
            time.sleep(0.001)  # our BEGIN holds the lock too: leave the server its turns
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:  # database is locked: the server is writing
                return True
            conn.execute("ROLLBACK")
            return False

        def data_version() -> int:
            return conn.execute("PRAGMA data_version").fetchone()[0]

        def committed() -> Callable[[], bool]:
            armed = data_version()
            return lambda: data_version() != armed

        with contextlib.closing(conn):
            yield {"in its transaction": lambda: writing, "after its first commit": committed}
        return

    import psycopg

    admin = urlsplit(os.environ["DATABASE_URL"])._replace(scheme="postgresql").geturl()
    with psycopg.connect(admin, autocommit=True) as pg:

        def sessions() -> list[tuple[str, bool, str]]:
            return pg.execute(
                "SELECT state, xact_start IS NOT NULL, query FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [urlsplit(database_url).path.lstrip("/")],
            ).fetchall()

        def in_transaction() -> bool:
            return any(open_ for _, open_, _ in sessions())

        def done(statement: str) -> Moment:
            return lambda: (
                lambda: any(
                    state != "active" and query.startswith(statement)
                    for state, _, query in sessions()
                )
            )

        yield {
            "in its transaction": lambda: in_transaction,
            "after writing the records": done("INSERT INTO syncstore_record "),
            "after writing the dataset": done("UPDATE syncstore_dataset SET sync_count"),
        }


class Update(threading.Thread):
    """UpdateRecords sent from a thread of its own, so the server can be killed under it."""

    def __init__(self, sync, where: dict, token: str, patches: list[dict]) -> None:
        super().__init__(daemon=True)
        self.request = {**where, "SyncSessionToken": token, "RecordPatches": patches}
        self.sync = sync
        self.answer: dict | None = None

    def run(self) -> None:
        # The server dies under it, or not: the test looks at the data either way.
        with contextlib.suppress(Exception):
            self.answer = self.sync.update_records(**self.request)


def batch(round_: int, before: dict[str, tuple]) -> list[dict]:
    """The round's update: every key of the batch replaced with a value naming the round
    (a couple of hundred bytes: 1,024 of them stay well under the dataset's 1 MB), each
    patch carrying the record's current sync count."""
    return [
        {
            "Op": "replace",
            "Key": f"key-{n:04}",
            "Value": f"round {round_} record {n} " + "x" * 200,
            "SyncCount": before.get(f"key-{n:04}", (None, 0))[1],
        }
        for n in range(BATCH)
    ]


def rounds_and_counts(records: dict[str, tuple]) -> dict[tuple, int]:
    """How many records hold a value of which round at which sync count."""
    return dict(Counter((value and value.split()[1], count) for value, count in records.values()))


@pytest.mark.parametrize(
    "database", [pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"]
)
def test_a_server_killed_during_an_update_keeps_all_of_it_or_none(database, tmp_path, monkeypatch):
    """UpdateRecords with 1,024 patches, the server killed with SIGKILL at moments spread
    over the time a whole update takes and at moments read from the database (inside the
    update's transaction, after its statements, after its first commit), then started again
    on the same database. Each time ListRecords shows every record of the batch at the new
    sync count or none of them changed, the dataset's sync count moved by one or not at
    all, DescribeDataset's record count and DataStorage match the records, and an update
    that was answered is there."""
    monkeypatch.delenv("REDIS_URL", raising=False)  # the database alone is under test
    if database == "sqlite":
        monkeypatch.delenv("DATABASE_URL", raising=False)  # the embedded default
    with servers.cognate(tmp_path, label="kill") as live:
        live.manage("ensure_demo_pool")
        identity_id, _, sync = clients_for(live.url)
        where = {"IdentityPoolId": POOL, "IdentityId": identity_id, "DatasetName": "batch"}
        token = sync.list_records(**where)["SyncSessionToken"]

        # One whole update first, on a server as fresh as each restarted one, timed: the
        # first kills are spread over that time.
        started = time.monotonic()
        sync.update_records(**where, SyncSessionToken=token, RecordPatches=batch(0, {}))
        whole = time.monotonic() - started

        outcomes = []
        with moments_in_the_update(live.env["DATABASE_URL"]) as moments:
            kill_at: list = [whole * share for share in (0, 0.25, 0.5, 0.75, 1)] + [*moments]
            for round_, moment in enumerate(kill_at, start=1):
                before, count_before = all_records(sync, where)
                update = Update(sync, where, token, batch(round_, before))
                if isinstance(moment, str):
                    come = moments[moment]()
                    update.start()
                    # Until it comes or the update is over (its HTTP read times out at 60 s).
                    for _ in range(1_000_000):
                        if not update.is_alive() or come():
                            break
                else:
                    update.start()
                    time.sleep(moment)
                live.restart(kill=True)
                update.join(timeout=60)
                assert not update.is_alive()

                after, count_after = all_records(sync, where)
                all_of_it = {
                    p["Key"]: (p["Value"], count_before + 1)
                    for p in update.request["RecordPatches"]
                }
                if after == all_of_it:
                    outcomes.append((moment, "all", update.answer is not None))
                    assert count_after == count_before + 1
                else:
                    outcomes.append((moment, "none", update.answer is not None))
                    assert rounds_and_counts(after) == rounds_and_counts(before), "a part landed"
                    changed = sum(
                        after.get(key) != before.get(key) for key in after.keys() | before
                    )
                    assert (changed, count_after) == (0, count_before)
                    assert update.answer is None, (
                        "UpdateRecords was answered; its records are not there"
                    )
                described = sync.describe_dataset(**where)["Dataset"]
                stored = {key: value for key, (value, _) in after.items() if value is not None}
                assert described["NumRecords"] == len(stored)
                assert described["DataStorage"] == sum(
                    len(key.encode()) + len(value.encode()) for key, value in stored.items()
                )
        # Seen with -s: where the kills fell (moment, what is there, whether it was answered).
        print(f"a whole update took {whole:.2f} s; kills: {outcomes}")


# --- The Redis pub/sub connection killed --------------------------------------------------------
def local_ports(pid: int) -> set[int]:
    """The local ports of the TCP sockets a process holds (from /proc: no tool needed)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):  # closed meanwhile
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[len("socket:[") : -1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def kill_pubsub_connections(redis, live: servers.Cognate) -> list[str]:
    """CLIENT KILL the subscribed Redis connections of this test's server processes, and
    no one else's (other tests share the Redis): those whose client port is one of theirs.
    The ids of the connections killed."""
    ports = set().union(*(local_ports(process.pid) for process in live.processes))
    killed = []
    for client in redis.client_list():
        subscribed = sum(int(client.get(kind, 0)) for kind in ("sub", "psub", "ssub"))
        if subscribed and int(client["addr"].rsplit(":", 1)[1]) in ports:
            redis.client_kill_filter(_id=client["id"])
            killed.append(client["id"])
    return killed


class Device:
    """A device as docs/sync-protocol.md has one behave: it keeps the dataset's records and
    its sync count; applies a `changed` event that is the next count and carries its records;
    pulls from its count when an event shows a gap (or has no records); and after its socket
    closes, reconnects and pulls."""

    def __init__(self, url: str, token: str, dataset: str) -> None:
        self.url, self.token, self.dataset = url, token, dataset
        self.records: dict[str, tuple] = {}
        self.sync_count = 0
        self.heard: list[int] = []  # the sync counts of the `changed` events heard
        self.pulls = self.closes = 0
        self.waiting: deque[dict] = deque()  # events that came while a pull was answered
        self.requests = 0
        self.socket = contextlib.ExitStack()

    def reconnect(self) -> None:
        """Connect again, retrying a few times as a client does with backoff: a socket opened
        while the server's Redis connection is still down is closed with 1011."""
        for attempt in range(5):
            try:
                self.connect()
                return
            except (ConnectionClosed, OSError):
                if attempt == 4:
                    raise
                time.sleep(0.5 * (attempt + 1))

    def connect(self) -> None:
        self.close()
        self.ws = self.socket.enter_context(
            connect(
                self.url.replace("http://", "ws://") + "/ws/sync",
                subprotocols=["cognate.sync.v1", f"bearer.{self.token}"],
                open_timeout=10,
            )
        )
        ready = json.loads(self.ws.recv(timeout=10))
        assert ready["type"] == "ready", ready
        self.pull()

    def close(self) -> None:
        self.socket.close()

    def apply(self, records: list[dict]) -> None:
        for record in records:
            self.records[record["Key"]] = (record.get("Value"), record["SyncCount"])

    def pull(self) -> None:
        self.pulls += 1
        page = None
        for _ in range(BATCH):
            self.requests += 1
            ask = {"type": "pull", "id": self.requests, "dataset": self.dataset}
            self.ws.send(json.dumps({**ask, "since": self.sync_count, "next": page}))
            for _ in range(1000):
                message = json.loads(self.ws.recv(timeout=10))
                if message.get("id") == self.requests:
                    break
                self.waiting.append(message)
            assert message["type"] == "records", message
            self.apply(message["records"])
            page = message["next"]
            if page is None:
                self.sync_count = max(self.sync_count, message["syncCount"])
                return
        pytest.fail("the pull kept giving a next page")

    def hear(self, event: dict) -> None:
        if event["type"] != "changed" or event["dataset"] != self.dataset:
            return
        self.heard.append(event["syncCount"])
        if event["syncCount"] <= self.sync_count:
            return  # known already (a pull brought it)
        if event["syncCount"] == self.sync_count + 1 and event["records"] is not None:
            self.apply(event["records"])
            self.sync_count = event["syncCount"]
        else:
            self.pull()

    def follow_until(self, sync_count: int) -> None:
        """Take events (and reconnect after a close) until the device knows `sync_count`."""
        for _ in range(1000):
            if self.sync_count >= sync_count:
                return
            try:
                if self.waiting:
                    self.hear(self.waiting.popleft())
                    continue
                self.hear(json.loads(self.ws.recv(timeout=10)))
            except TimeoutError:
                pytest.fail(
                    f"the socket stayed open and said nothing for 10 s while the device was "
                    f"at sync count {self.sync_count} and the server at {sync_count}: events "
                    f"were lost and no gap showed (heard {self.heard})"
                )
            except ConnectionClosed:
                self.closes += 1
                assert self.closes <= 5, "the socket keeps closing"
                self.reconnect()
        pytest.fail(f"still at {self.sync_count} of {sync_count} after 1000 messages")


@contextlib.contextmanager
def pubsub_pair(tmp_path: Path, label: str):
    """Two server processes on PostgreSQL and Redis, a guest of the demo pool whose socket
    goes to the first and whose writes go through the second: (servers, Redis client, the
    holding server's URL, the guest's token, the writing Sync client, the dataset's path
    members, a SyncSessionToken)."""
    import redis as redis_py

    redis = redis_py.Redis.from_url(os.environ["REDIS_URL"])
    with servers.cognate(tmp_path, processes=2, label=label) as live:
        live.manage("ensure_demo_pool")
        holding, writing = live.urls
        identity_id, identity, _ = clients_for(holding)
        token = identity.get_open_id_token(IdentityId=identity_id)["Token"]
        _, _, sync = clients_for(writing, identity_id)
        where = {"IdentityPoolId": POOL, "IdentityId": identity_id, "DatasetName": "notes"}
        session = sync.list_records(**where)["SyncSessionToken"]
        yield live, redis, holding, token, sync, where, session


@pytest.mark.postgres
@pytest.mark.redis
def test_sockets_catch_up_after_the_redis_pubsub_connection_is_killed(tmp_path):
    """A device's socket on one server process, writes through another's HTTP API, and
    the servers' Redis pub/sub connections killed (CLIENT KILL) between writes: the device
    ends up knowing every change, and it heard the last one as an event (or its socket was
    closed, and it pulled).

    What the server does: redis-py notices the dead connection on the next read of
    channels_redis's receive loop (it reads every 0.1 s), opens a new one and subscribes
    again to every channel and group it had. Events published in between are lost, so once
    subscribed again the hub closes its sockets with 1013 (syncstore/layers.py): the device
    reconnects and pulls."""
    with pubsub_pair(tmp_path, "pubsub") as (live, redis, holding, token, sync, where, session):

        def write(key: str, value: str | None) -> int:
            counts = {key: count for key, (_, count) in all_records(sync, where)[0].items()}
            patch = {"Op": "replace", "Key": key, "Value": value, "SyncCount": counts.get(key, 0)}
            if value is None:
                patch = {"Op": "remove", "Key": key, "SyncCount": counts[key]}
            written = sync.update_records(**where, SyncSessionToken=session, RecordPatches=[patch])
            return written["Records"][0]["SyncCount"]

        device = Device(holding, token, "notes")
        device.connect()
        try:
            device.follow_until(write("a", "one"))
            assert (device.heard, device.closes) == ([1], 0)  # events cross processes

            for round_ in range(3):
                assert kill_pubsub_connections(redis, live), "no subscribed connection found"
                last = 0
                for key, value in [("a", f"a{round_}"), (f"k{round_}", "new"), ("b", "b")]:
                    last = write(key, value)
                if round_ == 2:
                    last = write("b", None)
                device.follow_until(last)
                assert device.closes or device.heard[-1] == last
        finally:
            device.close()

        records, sync_count = all_records(sync, where)
        assert (device.records, device.sync_count) == (records, sync_count)
        print(f"heard {device.heard}; pulls {device.pulls}; closes {device.closes}")


@pytest.mark.postgres
@pytest.mark.redis
def test_sockets_are_told_to_pull_when_events_were_lost_while_the_subscription_was_down(
    tmp_path,
):
    """The pub/sub connection killed again and again while three writes are made, so their
    events are published while the server is not subscribed and never arrive: the socket is
    closed with 1013 once the layer has subscribed again, and the device, reconnecting and
    pulling, knows every change without waiting for a later one."""
    with pubsub_pair(tmp_path, "outage") as (live, redis, holding, token, sync, where, session):
        device = Device(holding, token, "notes")
        device.connect()
        try:
            last = sync.update_records(
                **where,
                SyncSessionToken=session,
                RecordPatches=[{"Op": "replace", "Key": "a", "Value": "0", "SyncCount": 0}],
            )["Records"][0]["SyncCount"]
            device.follow_until(last)
            down = threading.Event()

            def keep_it_down() -> None:
                while not down.is_set():
                    kill_pubsub_connections(redis, live)
                    time.sleep(0.005)

            killer = threading.Thread(target=keep_it_down)
            killer.start()
            try:
                for n in range(1, 4):
                    last = sync.update_records(
                        **where,
                        SyncSessionToken=session,
                        RecordPatches=[
                            {"Op": "replace", "Key": "a", "Value": str(n), "SyncCount": last}
                        ],
                    )["Records"][0]["SyncCount"]
            finally:
                down.set()
                killer.join()
            device.follow_until(last)
        finally:
            device.close()
        records, sync_count = all_records(sync, where)
        assert (device.records, device.sync_count) == (records, sync_count) and sync_count == 4
