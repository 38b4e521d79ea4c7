"""Concurrent writers never lose an update: one wins, the others are refused with a
conflict and change nothing (DESIGN §4).

On PostgreSQL only: the writers' transactions really overlap there and wait on the dataset's
row lock, which is what these tests are about. SQLite lets one writer in at a time, so the
same tests would pass on it without any lock."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError
from django.db import connections

from aws.errors import ResourceConflict
from identity import selectors, services
from syncstore import services as sync_services
from syncstore.models import Dataset, Record
from tests.conftest import database_is_postgres, require
from tests.support import servers
from tests.syncstore.conftest import new_device

pytestmark = pytest.mark.postgres

WRITERS = 16
DEMO_POOL = "us-east-1:dec0de00-0000-4000-8000-000000000001"


def race(writer, count=WRITERS):
    """Run `writer(n)` in `count` threads released at the same moment."""
    start = threading.Barrier(count)

    def run(n):
        start.wait()
        try:
            return writer(n)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def patch(key, value, sync_count):
    return [sync_services.Patch(key=key, op="replace", value=value, sync_count=sync_count)]


@pytest.mark.django_db(transaction=True)
def test_same_key_same_count_has_exactly_one_winner():
    pool = services.pool_create(name="Race", allow_unauthenticated=True)
    identity = services.identity_create_guest(pool=selectors.pool_view(pool.id))
    sync_services.records_update(
        identity=identity, dataset_name="d", patches=patch("k", "start", 0), modified_by="t"
    )

    def writer(n):
        try:
            sync_services.records_update(
                identity=identity,
                dataset_name="d",
                patches=patch("k", f"v{n}", 1),
                modified_by=f"w{n}",
            )
            return n
        except ResourceConflict as conflict:
            assert conflict.message == "Current SyncCount for: k is: 2 not: 1"
            return None

    results = race(writer)
    winners = [n for n in results if n is not None]
    assert len(winners) == 1, results
    winner = winners[0]
    record = Record.objects.get(dataset__identity=identity, key="k")
    assert (record.value, record.sync_count) == (f"v{winner}", 2)
    assert record.modified_by == f"w{winner}"
    assert Dataset.objects.get(identity=identity, name="d").sync_count == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_creation_of_a_dataset_has_one_winner():
    pool = services.pool_create(name="Create race", allow_unauthenticated=True)
    identity = services.identity_create_guest(pool=selectors.pool_view(pool.id))

    def writer(n):
        try:
            sync_services.records_update(
                identity=identity,
                dataset_name="fresh",
                patches=patch("k", f"v{n}", 0),
                modified_by=f"w{n}",
            )
            return True
        except ResourceConflict as conflict:
            assert conflict.message == "Current SyncCount for: k is: 1 not: 0"
            return False

    results = race(writer)
    assert sum(results) == 1
    winner = results.index(True)
    dataset = Dataset.objects.get(identity=identity, name="fresh")
    assert (dataset.sync_count, dataset.record_count) == (1, 1)
    record = Record.objects.get(dataset=dataset)
    assert (record.key, record.value, record.sync_count) == ("k", f"v{winner}", 1)


@pytest.mark.django_db(transaction=True)
def test_updates_of_different_keys_all_land():
    pool = services.pool_create(name="Many keys", allow_unauthenticated=True)
    identity = services.identity_create_guest(pool=selectors.pool_view(pool.id))
    sync_services.records_update(
        identity=identity, dataset_name="d", patches=patch("seed", "x", 0), modified_by="t"
    )
    updates = race(
        lambda n: sync_services.records_update(
            identity=identity,
            dataset_name="d",
            patches=patch(f"k{n}", f"v{n}", 0),
            modified_by="t",
        )
    )
    dataset = Dataset.objects.get(identity=identity, name="d")
    assert dataset.sync_count == WRITERS + 1
    counts = sorted(Record.objects.filter(dataset=dataset).values_list("sync_count", flat=True))
    assert counts == list(range(1, WRITERS + 2))
    # Each update raised the count by one, and what it wrote is what the dataset holds.
    assert sorted(update.sync_count for update in updates) == list(range(2, WRITERS + 2))
    written = [(r.key, r.value, r.sync_count) for update in updates for r in update.records]
    held = Record.objects.filter(dataset=dataset).exclude(key="seed")
    assert sorted(written) == sorted(held.values_list("key", "value", "sync_count"))
    assert {key for key, _, _ in written} == {f"k{n}" for n in range(WRITERS)}


# Through HTTP the writers are devices of their own (boto3 clients with their own credentials).
API_WRITERS = 32


@pytest.fixture(scope="module")
def race_server(tmp_path_factory):
    """Four server processes sharing PostgreSQL, with the demo pool: (server, pool id)."""
    require(database_is_postgres(), "needs PostgreSQL: set DATABASE_URL=postgres://...")
    with servers.cognate(tmp_path_factory.mktemp("race"), workers=4, label="race") as live:
        live.manage("ensure_demo_pool")
        yield live, live.env.get("COGNATE_DEMO_POOL_ID") or DEMO_POOL


def devices_of_one_identity(race_server, count):
    """A first device of a new identity, `count` more devices of it and a SyncSessionToken
    for each of those."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    live, pool_id = race_server
    anon = boto3.client(
        "cognito-identity",
        endpoint_url=live.endpoint,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED),
    )
    first = new_device(live, anon, pool_id)
    devices = [new_device(live, anon, pool_id, first.identity_id) for _ in range(count)]
    return first, devices, [d.list()["SyncSessionToken"] for d in devices]


def replace(key, value, sync_count):
    return [{"Op": "replace", "Key": key, "Value": value, "SyncCount": sync_count}]


def assert_conflict(error: ClientError) -> None:
    code = error.response["Error"]["Code"]
    status = error.response["ResponseMetadata"]["HTTPStatusCode"]
    assert (code, status) == ("ResourceConflictException", 409), error.response


def test_thirty_two_devices_racing_for_one_key_through_the_api_on_postgresql(race_server):
    """Every device writes the same key at the same count: one wins, the rest are refused."""
    first, devices, tokens = devices_of_one_identity(race_server, API_WRITERS)
    first.put("k", "start")

    def writer(n):
        try:
            devices[n].update(replace("k", f"v{n}", 1), token=tokens[n])
            return f"v{n}"
        except ClientError as error:
            assert_conflict(error)
            return None

    results = race(writer, API_WRITERS)
    winners = [value for value in results if value]
    assert len(winners) == 1, results
    final = first.list(LastSyncCount=0)
    assert final["DatasetSyncCount"] == 2
    assert [(r["Key"], r["Value"], r["SyncCount"]) for r in final["Records"]] == [
        ("k", winners[0], 2)
    ]


def test_thirty_two_devices_writing_their_own_keys_through_the_api_all_land_on_postgresql(
    race_server,
):
    """Every device replaces a key of its own, with that record's sync count, retrying after
    a conflict with the count it then lists. Every update lands, each raises the dataset's
    count by one, and no two records share a count: none was lost or merged into another."""
    attempts = 5
    first, devices, tokens = devices_of_one_identity(race_server, API_WRITERS)
    keys = [f"k{n}" for n in range(API_WRITERS)]
    first.update([patch for key in keys for patch in replace(key, "start", 0)])

    def writer(n):
        """The record as the update that landed wrote it."""
        sync_count = 1
        for _ in range(attempts):
            try:
                answer = devices[n].update(replace(keys[n], f"v{n}", sync_count), token=tokens[n])
                return [(r["Key"], r["Value"], r["SyncCount"]) for r in answer["Records"]]
            except ClientError as error:
                assert_conflict(error)
                listed = devices[n].list(LastSyncCount=0)["Records"]
                sync_count = next(r["SyncCount"] for r in listed if r["Key"] == keys[n])
        pytest.fail(f"{keys[n]} still conflicts after {attempts} attempts")

    results = race(writer, API_WRITERS)
    successful_updates = 1 + len(results)  # the seed, and each writer's one that landed
    final = first.list(LastSyncCount=0)
    records = {r["Key"]: (r["Value"], r["SyncCount"]) for r in final["Records"]}
    assert {key: value for key, (value, _) in records.items()} == {
        key: f"v{n}" for n, key in enumerate(keys)
    }
    assert final["DatasetSyncCount"] == successful_updates
    counts = [count for _, count in records.values()]
    assert sorted(counts) == list(range(2, successful_updates + 1))
    # What each writer was told is what the dataset holds.
    assert sorted(record for written in results for record in written) == sorted(
        (key, value, count) for key, (value, count) in records.items()
    )
