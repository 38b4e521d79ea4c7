"""Cognito Sync throughput: K devices of each of M identities, in parallel, doing
ListRecords / UpdateRecords cycles with 10-record patches for a fixed time, signed with
SigV4 like the SDKs. Prints records written per second and p50/p99 per call, then the time
of a full ListRecords of a 1,024-record dataset. On PostgreSQL it first measures the
database alone doing the same transaction shape from as many threads as there are devices
(lock the dataset row, read the 10 keys, upsert them, bump the count, commit), in tables of its
own, and prints Cognate's updates/s as a share of that rate. With --writes-only it also prints
the CPU time each part of the machine spent per update (bench/cpu.py).

    python bench/sync.py                                   # starts a server itself
    python bench/sync.py --devices 16 --identities 1       # 16 devices of one identity
    python bench/sync.py --endpoint http://host:8000/aws --pool us-east-1:...

The server is started with the current environment (DATABASE_URL selects PostgreSQL).
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import aiohttp
import yarl
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.cpu import CpuTimes
from tests.support.servers import cognate_server

REGION = "us-east-1"
PATCH_SIZE = 10


class Device:
    def __init__(self, session, endpoint, pool_id, identity_id, creds):
        self.session, self.endpoint = session, endpoint
        self.pool_id, self.identity_id = pool_id, identity_id
        self.credentials = Credentials(
            creds["AccessKeyId"], creds["SecretKey"], creds["SessionToken"]
        )
        self.last_count = 0
        self.counts: dict[str, int] = {}

    def _url(self, dataset, suffix=""):
        label = lambda value: quote(value, safe="-._~")  # noqa: E731
        return (
            f"{self.endpoint}/identitypools/{label(self.pool_id)}/identities/"
            f"{label(self.identity_id)}/datasets/{label(dataset)}{suffix}"
        )

    async def call(self, method, url, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(self.credentials, "cognito-sync", REGION).add_auth(request)
        # encoded=True: send the path exactly as signed (yarl would turn %3A back into :).
        async with self.session.request(
            method, yarl.URL(url, encoded=True), data=data, headers=dict(request.headers.items())
        ) as response:
            return response.status, await response.json(content_type=None)

    async def list_records(self, dataset, last=0, max_results=1024):
        url = self._url(dataset, f"/records?lastSyncCount={last}&maxResults={max_results}")
        status, body = await self.call("GET", url)
        if status != 200:
            raise RuntimeError(f"ListRecords -> {status} {body}")
        return body

    async def update_records(self, dataset, token, patches):
        body = {"SyncSessionToken": token, "RecordPatches": patches}
        return await self.call("POST", self._url(dataset), body)


async def identity_call(session, endpoint, operation, body):
    """An unsigned Cognito Identity call (GetId, GetCredentialsForIdentity): its JSON answer."""
    async with session.post(
        endpoint,
        json=body,
        headers={
            "X-Amz-Target": f"AWSCognitoIdentityService.{operation}",
            "Content-Type": "application/x-amz-json-1.1",
        },
    ) as response:
        return await response.json(content_type=None)


async def new_guest(session, endpoint, pool_id):
    answer = await identity_call(session, endpoint, "GetId", {"IdentityPoolId": pool_id})
    identity_id = answer["IdentityId"]
    creds = await identity_call(
        session, endpoint, "GetCredentialsForIdentity", {"IdentityId": identity_id}
    )
    return identity_id, creds["Credentials"]


async def device_loop(device, number, deadline, stats, interval=0.0, writes_only=False):
    """Pull what changed, then write 10 of this device's own keys; on a conflict pull again.
    With an interval, a device starts a cycle every `interval` seconds (a paced load);
    without, it starts the next as soon as one ends (a closed loop: saturation). With
    `writes_only`, a device pulls once and then only writes, with the session token and the
    sync counts it has (a token is good for its lifetime): one UpdateRecords per cycle, the
    shape of the PostgreSQL baseline."""
    keys = [f"d{number}-k{n}" for n in range(50)]
    turn = 0
    if interval:
        await asyncio.sleep(random.uniform(0, interval))
    token = None
    while time.perf_counter() < deadline:
        cycle_started = started = time.perf_counter()
        if token is None or not writes_only:
            listed = await device.list_records("bench", device.last_count)
            stats["list"].append(time.perf_counter() - started)
            for record in listed["Records"]:
                device.counts[record["Key"]] = record["SyncCount"]
            device.last_count = listed["DatasetSyncCount"]
            token = listed["SyncSessionToken"]
        chosen = [keys[(turn * PATCH_SIZE + n) % len(keys)] for n in range(PATCH_SIZE)]
        turn += 1
        patches = [
            {
                "Op": "replace",
                "Key": key,
                "Value": f"value {turn} of {key}",
                "SyncCount": device.counts.get(key, 0),
            }
            for key in chosen
        ]
        started = time.perf_counter()
        status, body = await device.update_records("bench", token, patches)
        stats["update"].append(time.perf_counter() - started)
        if status == 200:
            stats["written"] += len(body["Records"])
            for record in body["Records"]:
                device.counts[record["Key"]] = record["SyncCount"]
        elif status == 409:
            stats["conflicts"] += 1
            token = None
        else:
            stats["errors"].append(f"{status} {body}")
        if interval:
            await asyncio.sleep(max(0.0, interval - (time.perf_counter() - cycle_started)))


BASELINE_SCHEMA = """
DROP TABLE IF EXISTS bench_record, bench_dataset;
CREATE TABLE bench_dataset (
    id bigserial PRIMARY KEY, identity_id varchar(55) NOT NULL, name varchar(128) NOT NULL,
    sync_count bigint NOT NULL DEFAULT 0, modified timestamptz NOT NULL DEFAULT now(),
    last_modified_by varchar(256) NOT NULL DEFAULT '', data_storage bigint NOT NULL DEFAULT 0,
    record_count integer NOT NULL DEFAULT 0, UNIQUE (identity_id, name));
CREATE TABLE bench_record (
    id bigserial PRIMARY KEY,
    dataset_id bigint NOT NULL REFERENCES bench_dataset (id) DEFERRABLE INITIALLY DEFERRED,
    key varchar(1024) NOT NULL, value text, sync_count bigint NOT NULL,
    modified timestamptz NOT NULL, modified_by varchar(256) NOT NULL,
    device_modified timestamptz, UNIQUE (dataset_id, key));
CREATE INDEX ON bench_record (dataset_id, sync_count, key);
"""


def postgres_baseline(url, devices_per_identity, identities, seconds):
    """Transactions per second of PostgreSQL alone doing what one UpdateRecords does, from
    one thread and connection per device, each writing its own 10 keys of its identity's
    dataset (the same rows and locks as the Cognate run)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as setup:
        setup.execute(BASELINE_SCHEMA)
        for n in range(identities):
            setup.execute(
                "INSERT INTO bench_dataset (identity_id, name) VALUES (%s, 'bench')",
                [f"us-east-1:{n:08}"],
            )
    done = [0] * (devices_per_identity * identities)
    deadline = [0.0]
    ready = threading.Barrier(len(done) + 1)

    def device(number):
        identity_id = f"us-east-1:{number % identities:08}"
        keys = [f"d{number}-k{n}" for n in range(50)]
        with psycopg.connect(url) as db:
            ready.wait()
            turn = 0
            while time.perf_counter() < deadline[0]:
                chosen = [keys[(turn * PATCH_SIZE + n) % len(keys)] for n in range(PATCH_SIZE)]
                turn += 1
                with db.transaction():
                    dataset_id, count = db.execute(
                        "SELECT id, sync_count FROM bench_dataset "
                        "WHERE identity_id = %s AND name = 'bench' FOR UPDATE",
                        [identity_id],
                    ).fetchone()
                    db.execute(
                        "SELECT key, sync_count, value FROM bench_record "
                        "WHERE dataset_id = %s AND key = ANY(%s)",
                        [dataset_id, chosen],
                    ).fetchall()
                    db.execute(
                        "INSERT INTO bench_record (dataset_id, key, value, sync_count, modified, "
                        "modified_by, device_modified) SELECT %s, k, v, %s, now(), 'bench', NULL "
                        "FROM unnest(%s::text[], %s::text[]) AS t(k, v) "
                        "ON CONFLICT (dataset_id, key) DO UPDATE SET value = excluded.value, "
                        "sync_count = excluded.sync_count, modified = excluded.modified",
                        [dataset_id, count + 1, chosen, [f"value {turn} of {k}" for k in chosen]],
                    )
                    db.execute(
                        "UPDATE bench_dataset SET sync_count = %s, modified = now(), "
                        "last_modified_by = 'bench' WHERE id = %s",
                        [count + 1, dataset_id],
                    )
                done[number] += 1

    threads = [threading.Thread(target=device, args=(n,)) for n in range(len(done))]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + seconds
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as setup:
        setup.execute("DROP TABLE bench_record, bench_dataset")
    return sum(done) / elapsed


def cuts(values):
    if len(values) < 2:
        return float("nan"), float("nan")
    quantiles = statistics.quantiles(values, n=100)
    return quantiles[49] * 1000, quantiles[98] * 1000


async def run(
    endpoint,
    pool_id,
    devices_per_identity,
    identities,
    seconds,
    interval,
    baseline=None,
    writes_only=False,
):
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        devices = []
        for _ in range(identities):
            identity_id, _ = await new_guest(session, endpoint, pool_id)
            for _ in range(devices_per_identity):
                answer = await identity_call(
                    session, endpoint, "GetCredentialsForIdentity", {"IdentityId": identity_id}
                )
                creds = answer["Credentials"]
                devices.append(Device(session, endpoint, pool_id, identity_id, creds))
        stats = {"list": [], "update": [], "written": 0, "conflicts": 0, "errors": []}
        warm = time.perf_counter() + 1
        await asyncio.gather(
            *(
                device_loop(
                    d, n, warm, {**stats, "list": [], "update": [], "errors": []}, 0, writes_only
                )
                for n, d in enumerate(devices)
            )
        )
        started = time.perf_counter()
        with CpuTimes() as cpu:
            await asyncio.gather(
                *(
                    device_loop(d, n, started + seconds, stats, interval, writes_only)
                    for n, d in enumerate(devices)
                )
            )
        elapsed = time.perf_counter() - started
        update_p50, update_p99 = cuts(stats["update"])
        list_p50, list_p99 = cuts(stats["list"])
        pace = f"a cycle every {interval:g} s" if interval else "closed loop"
        if writes_only:
            pace += ", writes only"
        print(
            f"{devices_per_identity:3} devices x {identities:3} identities, {pace}: "
            f"records written/s {stats['written'] / elapsed:8.1f}   "
            f"UpdateRecords p50 {update_p50:6.1f} ms p99 {update_p99:6.1f} ms   "
            f"ListRecords p50 {list_p50:6.1f} ms p99 {list_p99:6.1f} ms   "
            f"conflicts {stats['conflicts']}   errors {len(stats['errors'])}"
        )
        if baseline:
            updates = stats["written"] / PATCH_SIZE / elapsed
            print(
                f"   updates/s {updates:8.1f} against PostgreSQL alone {baseline:8.1f} tx/s: "
                f"{updates / baseline:.2f} of the database's own rate"
            )
        if writes_only:
            print(f"   CPU per update: {cpu.per(stats['written'] / PATCH_SIZE)}")
        if stats["errors"]:
            print(f"   first error: {stats['errors'][0][:300]}")

        # A full ListRecords of a dataset holding 1,024 records.
        identity_id, creds = await new_guest(session, endpoint, pool_id)
        full = Device(session, endpoint, pool_id, identity_id, creds)
        token = (await full.list_records("full"))["SyncSessionToken"]
        patches = [
            {"Op": "replace", "Key": f"key-{n:04}", "Value": "v" * 100, "SyncCount": 0}
            for n in range(1024)
        ]
        status, body = await full.update_records("full", token, patches)
        assert status == 200, body
        timings = []
        for _ in range(30):
            begun = time.perf_counter()
            listed = await full.list_records("full", 0, 1024)
            timings.append(time.perf_counter() - begun)
            assert len(listed["Records"]) == 1024 and "NextToken" not in listed
        p50, p99 = cuts(timings)
        print(
            f"full ListRecords of 1,024 records (100-byte values): p50 {p50:6.1f} ms   "
            f"p99 {p99:6.1f} ms   ({len(timings)} calls)"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--endpoint", help="a running Cognate /aws endpoint (default: start one)")
    parser.add_argument("--pool", help="identity pool id on --endpoint that allows guests")
    parser.add_argument("--devices", type=int, default=16, help="devices per identity (K)")
    parser.add_argument("--identities", type=int, default=1, help="identities (M)")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument(
        "--interval",
        type=float,
        default=0.0,
        help="seconds between the starts of a device's cycles (0: closed loop)",
    )
    parser.add_argument(
        "--writes-only",
        action="store_true",
        help="list once, then only UpdateRecords (the PostgreSQL baseline's shape)",
    )
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    baseline = None
    if url.startswith("postgres") and not args.interval:
        baseline = postgres_baseline(url, args.devices, args.identities, args.seconds)
        print(
            f"# PostgreSQL alone, the same transaction from {args.devices * args.identities} "
            f"threads: {baseline:.1f} tx/s"
        )
    print(
        f"# {args.seconds:g} s; database "
        f"{os.environ.get('DATABASE_URL', 'sqlite (embedded default)').split('@')[-1]}; "
        f"{args.workers} server processes"
    )

    def measure(endpoint, pool_id):
        asyncio.run(
            run(
                endpoint,
                pool_id,
                args.devices,
                args.identities,
                args.seconds,
                args.interval,
                baseline,
                args.writes_only,
            )
        )

    if args.endpoint:
        if not args.pool:
            parser.error("--pool is needed with --endpoint")
        measure(args.endpoint, args.pool)
        return
    with cognate_server(workers=args.workers) as (endpoint, pool_id):
        measure(endpoint, pool_id)


if __name__ == "__main__":
    main()
