"""Cost against the size of the data, one call at a time on an otherwise idle server (so the
figure is the call's own cost, not queueing): UpdateRecords of 10 records and ListRecords of
the last update (`lastSyncCount` one behind the head) on datasets of 10 and of 1,000 records,
and GetId (a new guest) in a pool of 1,000 and of 100,000 identities. Prints p50/p99 of each,
and the ratio of the large case to the small one (1.0: the cost does not grow with the data).

    DATABASE_URL=postgres://... REDIS_URL=redis://... python bench/scale.py --workers 2

The server is started with the current environment (DATABASE_URL selects PostgreSQL).
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.sync import Device, identity_call, new_guest
from tests.support.servers import cognate

PATCH = 10


def cuts(timings: list[float]) -> tuple[float, float]:
    quantiles = statistics.quantiles(timings, n=100)
    return quantiles[49] * 1000, quantiles[98] * 1000


async def dataset_costs(endpoint, pool_id, size: int, calls: int) -> tuple[list, list]:
    """(UpdateRecords timings, ListRecords-near-the-head timings) on a dataset of `size`."""
    async with aiohttp.ClientSession() as session:
        identity_id, creds = await new_guest(session, endpoint, pool_id)
        device = Device(session, endpoint, pool_id, identity_id, creds)
        token = (await device.list_records("sized"))["SyncSessionToken"]
        keys = [f"key-{n:04}" for n in range(size)]
        status, body = await device.update_records(
            "sized",
            token,
            [{"Op": "replace", "Key": k, "Value": "v" * 100, "SyncCount": 0} for k in keys],
        )
        assert status == 200, body
        counts = {k: 1 for k in keys}
        head = 1
        updates, lists = [], []
        for call in range(calls):
            chosen = [keys[(call * PATCH + n) % size] for n in range(PATCH)]
            patches = [
                {"Op": "replace", "Key": k, "Value": f"{call}-{k}", "SyncCount": counts[k]}
                for k in chosen
            ]
            begun = time.perf_counter()
            status, body = await device.update_records("sized", token, patches)
            updates.append(time.perf_counter() - begun)
            assert status == 200, body
            head += 1
            for k in chosen:
                counts[k] = head
            begun = time.perf_counter()
            listed = await device.list_records("sized", head - 1, 1024)
            lists.append(time.perf_counter() - begun)
            assert {r["Key"] for r in listed["Records"]} == set(chosen), listed
        return updates, lists


async def get_id_costs(endpoint, pool_id, calls: int) -> list:
    timings = []
    async with aiohttp.ClientSession() as session:
        for _ in range(calls):
            begun = time.perf_counter()
            body = await identity_call(session, endpoint, "GetId", {"IdentityPoolId": pool_id})
            timings.append(time.perf_counter() - begun)
            assert "IdentityId" in body, body
    return timings


def fill_identities(server, pool_id: str, total: int) -> None:
    """Guests written straight into the pool until it holds `total` identities."""
    server.manage(
        "shell",
        "-c",
        "import uuid; from identity.models import Identity; "
        f"have = Identity.objects.filter(pool_id={pool_id!r}).count(); "
        "Identity.objects.bulk_create("
        f"(Identity(id=f'us-east-1:{{uuid.uuid4()}}', pool_id={pool_id!r}) "
        f"for _ in range(max(0, {total} - have))), batch_size=5000)",
    )


def line(what: str, small: list, large: list) -> None:
    (s50, s99), (l50, l99) = cuts(small), cuts(large)
    print(
        f"{what:44} p50 {s50:6.2f} -> {l50:6.2f} ms   p99 {s99:6.2f} -> {l99:6.2f} ms   "
        f"large/small p50 {l50 / s50:.2f}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per case")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
    args = parser.parse_args()
    print(
        f"# {args.calls} calls per case, one at a time; database "
        f"{os.environ.get('DATABASE_URL', 'sqlite (embedded default)').split('@')[-1]}; "
        f"{args.workers} server processes"
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        cognate(Path(tmp), workers=args.workers, label="scale") as server,
    ):
        out = server.manage("ensure_demo_pool", "--endpoint", server.endpoint).stdout
        pool_id = out.split("Demo identity pool: ")[1].split()[0]
        endpoint = server.endpoint
        small = asyncio.run(dataset_costs(endpoint, pool_id, 10, args.calls))
        large = asyncio.run(dataset_costs(endpoint, pool_id, 1000, args.calls))
        line("UpdateRecords of 10, dataset 10 -> 1,000", small[0], large[0])
        line("ListRecords after the last update, 10 -> 1,000", small[1], large[1])
        fill_identities(server, pool_id, 1000)
        few = asyncio.run(get_id_costs(endpoint, pool_id, args.calls))
        fill_identities(server, pool_id, 100_000)
        many = asyncio.run(get_id_costs(endpoint, pool_id, args.calls))
        line("GetId, pool of 1,000 -> 100,000 identities", few, many)


if __name__ == "__main__":
    main()
