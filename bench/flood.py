"""Guest floods: one client address sends unsigned GetId calls at a fixed rate (a flood of
new guests) while a second client, from another address, reads a dataset with ListRecords
(SigV4 with a guest's temporary credentials). Prints the second client's p50/p99 alone and
during the flood, and what became of the flood's calls (identities made, 429 refusals).

    python bench/flood.py                              # starts a server with the default limits
    python bench/flood.py --rate 200 --seconds 20 --workers 1

The server is started with the current environment (DATABASE_URL selects PostgreSQL,
REDIS_URL Redis) and the shipped guest limits. The flood comes from 127.0.0.2 and the
reader from 127.0.0.1, both on loopback. The quiet phase runs on to the start of a minute,
so that a flood of under a minute sees one window of the per-minute limit (a flood that
spans a minute's start gets that minute's allowance too).
"""

import argparse
import asyncio
import multiprocessing
import os
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.sync import Device, cuts, new_guest
from tests.support.servers import cognate_server

FLOOD_ADDRESS = "127.0.0.2"
READER_ADDRESS = "127.0.0.1"
IN_FLIGHT = 64  # the flood's concurrent requests at most; beyond that a beat is skipped


async def flood(endpoint, pool_id, rate, seconds, start_at):
    """GetId without Logins every 1/rate seconds from FLOOD_ADDRESS from `start_at` (a
    perf_counter time) on, an open loop with at most IN_FLIGHT calls at a time; bounded by
    rate * seconds calls. (outcome counts, latencies by status, times identities were made,
    seconds from the first call to the last answer)."""
    outcome: Counter = Counter()
    latencies: dict[int, list[float]] = {}
    made_at: list[float] = []
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT, local_addr=(FLOOD_ADDRESS, 0))
    headers = {
        "X-Amz-Target": "AWSCognitoIdentityService.GetId",
        "Content-Type": "application/x-amz-json-1.1",
    }
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one(session):
        started = time.perf_counter()
        try:
            async with session.post(
                endpoint, json={"IdentityPoolId": pool_id}, headers=headers
            ) as response:
                await response.read()
                outcome[response.status] += 1
                if response.status == 200:
                    made_at.append(time.perf_counter())
                latencies.setdefault(response.status, []).append(time.perf_counter() - started)
        except aiohttp.ClientError as error:
            outcome[type(error).__name__] += 1
        finally:
            slots.release()

    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = []
        await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
        for beat in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start_at + beat / rate - time.perf_counter()))
            if slots.locked():
                outcome["skipped"] += 1
                continue
            await slots.acquire()
            tasks.append(asyncio.create_task(one(session)))
        await asyncio.gather(*tasks)
    return outcome, latencies, made_at, time.perf_counter() - start_at


def flood_process(endpoint, pool_id, rate, seconds, start_at, results):
    """The flood in a process of its own, so that its client work does not delay the
    reader's (perf_counter is the same clock in both processes)."""
    results.put(asyncio.run(flood(endpoint, pool_id, rate, seconds, start_at)))


async def reader(device, seconds, interval, calls):
    """ListRecords of a small dataset every `interval` seconds, one call at a time; `calls`
    gets (start, latency) of each."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        await device.list_records("notes")
        calls.append((started, time.perf_counter() - started))
        await asyncio.sleep(max(0.0, interval - (time.perf_counter() - started)))


async def run(endpoint, pool_id, rate, seconds, interval):
    connector = aiohttp.TCPConnector(limit=1, local_addr=(READER_ADDRESS, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        identity_id, creds = await new_guest(session, endpoint, pool_id)
        device = Device(session, endpoint, pool_id, identity_id, creds)
        token = (await device.list_records("notes"))["SyncSessionToken"]
        patches = [
            {"Op": "replace", "Key": f"key-{n}", "Value": f"value {n}", "SyncCount": 0}
            for n in range(10)
        ]
        status, body = await device.update_records("notes", token, patches)
        assert status == 200, body
        await reader(device, 1, interval, [])  # warm-up

        # The flood starts at the start of a minute, after at least `seconds` of quiet.
        start_at = time.perf_counter() + seconds + until_next_minute(after=seconds)
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        child = context.Process(
            target=flood_process, args=(endpoint, pool_id, rate, seconds, start_at, results)
        )
        child.start()
        quiet: list[tuple[float, float]] = []
        await reader(device, start_at - time.perf_counter(), interval, quiet)
        print(summary("no flood     ListRecords", [latency for _, latency in quiet]))

        during: list[tuple[float, float]] = []
        started = time.perf_counter()
        await reader(device, seconds, interval, during)
        outcome, answered, made_at, elapsed = await asyncio.to_thread(results.get)
        await asyncio.to_thread(child.join)
        print(summary("with flood   ListRecords", [latency for _, latency in during]))
        if outcome[429] and made_at:
            # Once the flood's allowance is spent, every call of it is refused.
            spent = max(made_at)
            print(
                summary(
                    f"  first {spent - started:4.1f} s ListRecords",
                    [latency for at, latency in during if at < spent],
                )
            )
            print(
                summary(
                    "  the rest   ListRecords", [latency for at, latency in during if at >= spent]
                )
            )
        sent = sum(count for key, count in outcome.items() if key != "skipped")
        print(
            f"flood        {sent} GetId sent in {elapsed:.1f} s ({sent / elapsed:.1f}/s): "
            f"{outcome[200]} identities made, {outcome[429]} refused (429), "
            f"{sent - outcome[200] - outcome[429]} other; {outcome['skipped']} beats skipped "
            f"({IN_FLIGHT} in flight)"
        )
        for status, values in sorted(answered.items()):
            print(summary(f"             GetId answered {status}", values))


def until_next_minute(*, after: float) -> float:
    """Seconds from `after` seconds from now to the next start of a minute (+0.2 s)."""
    return 60 - (time.time() + after) % 60 + 0.2


def summary(label, values):
    p50, p99 = cuts(values)
    return f"{label} p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   ({len(values)} calls)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200, help="flood GetId calls per second")
    parser.add_argument("--seconds", type=float, default=20, help="length of each phase")
    parser.add_argument(
        "--interval", type=float, default=0.05, help="seconds between the reader's ListRecords"
    )
    parser.add_argument("--workers", type=int, default=1, help="1: daphne; more: uvicorn workers")
    args = parser.parse_args()
    print(
        f"# flood {args.rate:g} GetId/s from {FLOOD_ADDRESS}, ListRecords every "
        f"{args.interval:g} s from {READER_ADDRESS}, {args.seconds:g} s per phase; database "
        f"{os.environ.get('DATABASE_URL', 'sqlite (embedded default)').split('@')[-1]}; "
        f"cache {'Redis' if os.environ.get('REDIS_URL') else 'files (embedded default)'}; "
        f"{args.workers} server process(es)"
    )
    with cognate_server(workers=args.workers, lift_guest_limits=False) as (endpoint, pool_id):
        asyncio.run(run(endpoint, pool_id, args.rate, args.seconds, args.interval))


if __name__ == "__main__":
    main()
