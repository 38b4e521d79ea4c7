"""Concurrent writers never lose an update: one wins, the others are refused with a
conflict and change nothing (DESIGN §4)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError
from django.db import connection, connections

from identity import selectors, services
from identity.errors import ResourceConflict
from syncstore import services as sync_services
from syncstore.models import Dataset, Record
from tests.conftest import database_is_postgres
from tests.support import servers
from tests.syncstore.conftest import new_device

WRITERS = 16


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
            return f"v{n}"
        except ResourceConflict as conflict:
            assert conflict.message == "Current SyncCount for: k is: 2 not: 1"
            return None

    results = race(writer)
    winners = [value for value in results if value]
    assert len(winners) == 1, results
    record = Record.objects.get(dataset__identity=identity, key="k")
    assert (record.value, record.sync_count) == (winners[0], 2)
    assert Dataset.objects.get(identity=identity, name="d").sync_count == 2
    assert connection.vendor in ("postgresql", "sqlite")


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
        except ResourceConflict:
            return False

    assert sum(race(writer)) == 1
    dataset = Dataset.objects.get(identity=identity, name="fresh")
    assert (dataset.sync_count, dataset.record_count) == (1, 1)


@pytest.mark.django_db(transaction=True)
def test_updates_of_different_keys_all_land():
    pool = services.pool_create(name="Many keys", allow_unauthenticated=True)
    identity = services.identity_create_guest(pool=selectors.pool_view(pool.id))
    sync_services.records_update(
        identity=identity, dataset_name="d", patches=patch("seed", "x", 0), modified_by="t"
    )
    race(
        lambda n: sync_services.records_update(
            identity=identity,
            dataset_name="d",
            patches=patch(f"k{n}", "v", 0),
            modified_by="t",
        )
    )
    dataset = Dataset.objects.get(identity=identity, name="d")
    assert dataset.sync_count == WRITERS + 1
    counts = sorted(Record.objects.filter(dataset=dataset).values_list("sync_count", flat=True))
    assert counts == list(range(1, WRITERS + 2))


@pytest.mark.postgres
def test_sixteen_devices_racing_through_the_api_on_postgresql(tmp_path):
    """Through HTTP, against four server processes sharing PostgreSQL."""
    assert database_is_postgres()
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    with servers.cognate(tmp_path, workers=4, label="race") as live:
        live.manage("ensure_demo_pool")
        pool_id = live.env.get("COGNATE_DEMO_POOL_ID") or (
            "us-east-1:dec0de00-0000-4000-8000-000000000001"
        )
        anon = boto3.client(
            "cognito-identity",
            endpoint_url=live.endpoint,
            region_name="us-east-1",
            config=Config(signature_version=UNSIGNED),
        )
        first = new_device(live, anon, pool_id)
        first.put("k", "start")
        devices = [new_device(live, anon, pool_id, first.identity_id) for _ in range(WRITERS)]
        tokens = [d.list()["SyncSessionToken"] for d in devices]

        def writer(n):
            try:
                devices[n].update(
                    [{"Op": "replace", "Key": "k", "Value": f"v{n}", "SyncCount": 1}],
                    token=tokens[n],
                )
                return f"v{n}"
            except ClientError as error:
                assert error.response["Error"]["Code"] == "ResourceConflictException"
                assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 409
                return None

        results = race(writer)
        winners = [value for value in results if value]
        assert len(winners) == 1, results
        final = first.list(LastSyncCount=0)
        assert final["DatasetSyncCount"] == 2
        assert [(r["Key"], r["Value"], r["SyncCount"]) for r in final["Records"]] == [
            ("k", winners[0], 2)
        ]
