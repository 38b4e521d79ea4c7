"""Guest sign-up throughput: N concurrent simulated browsers, each doing GetId then
GetCredentialsForIdentity over HTTP for a fixed time. Prints pairs per second and p50/p99
latency of a pair, for this server and, in the same run, for moto's server (a mock that
stores nothing and signs nothing), measured in turn for `--rounds` rounds, and the ratio of
each round with their median.

    python bench/identity.py                      # starts both servers itself
    python bench/identity.py --endpoint http://host:8000/aws --pool us-east-1:...   # any server

The server is started with the current environment (DATABASE_URL selects PostgreSQL).
"""

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.cpu import CpuTimes
from tests.support.servers import cognate_server, moto_server

TARGET = "AWSCognitoIdentityService."


async def call(session, endpoint, operation, body):
    async with session.post(
        endpoint,
        json=body,
        headers={
            "X-Amz-Target": TARGET + operation,
            "Content-Type": "application/x-amz-json-1.1",
        },
    ) as response:
        payload = await response.json(content_type=None)
        if response.status != 200:
            raise RuntimeError(f"{operation} -> {response.status} {payload}")
        return payload


async def browser(endpoint, pool_id, deadline, latencies, errors):
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                got = await call(session, endpoint, "GetId", {"IdentityPoolId": pool_id})
                await call(
                    session,
                    endpoint,
                    "GetCredentialsForIdentity",
                    {"IdentityId": got["IdentityId"]},
                )
            except Exception as error:  # count and go on: the figure must say so
                errors.append(repr(error))
                continue
            latencies.append(time.perf_counter() - started)


async def run(endpoint, pool_id, concurrency, seconds):
    # A short warm-up so both servers are measured hot.
    await asyncio.gather(
        *(browser(endpoint, pool_id, time.perf_counter() + 1, [], []) for _ in range(4))
    )
    latencies, errors = [], []
    started = time.perf_counter()
    deadline = started + seconds
    with CpuTimes() as cpu:
        await asyncio.gather(
            *(browser(endpoint, pool_id, deadline, latencies, errors) for _ in range(concurrency))
        )
    elapsed = time.perf_counter() - started
    return latencies, errors, elapsed, cpu


def report(name, latencies, errors, elapsed, cpu):
    rate = len(latencies) / elapsed
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
    print(
        f"{name:8} pairs/s {rate:8.1f}   p50 {cuts[49] * 1000:7.1f} ms   "
        f"p99 {cuts[98] * 1000:7.1f} ms   pairs {len(latencies)}   errors {len(errors)}"
    )
    print(f"         CPU per pair: {cpu.per(len(latencies))}")
    if errors:
        print(f"         first error: {errors[0][:300]}")
    return rate


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--endpoint", help="a running Cognate /aws endpoint (default: start one)")
    parser.add_argument("--pool", help="identity pool id on --endpoint that allows guests")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
    parser.add_argument(
        "--rounds", type=int, default=3, help="measurements of each server, alternated"
    )
    parser.add_argument("--skip-moto", action="store_true")
    args = parser.parse_args()

    print(
        f"# {args.concurrency} browsers, {args.seconds:g} s each; database "
        f"{os.environ.get('DATABASE_URL', 'sqlite (embedded default)').split('@')[-1]}"
    )
    with contextlib.ExitStack() as servers:
        if args.endpoint:
            if not args.pool:
                parser.error("--pool is needed with --endpoint")
            ours = (args.endpoint, args.pool)
        else:
            ours = servers.enter_context(cognate_server(workers=args.workers))
        theirs = None if args.skip_moto else servers.enter_context(moto_server())
        ratios = []
        for number in range(args.rounds):
            # Both servers are up for the whole run and measured in turn, the order swapped
            # every round: the machine's drift falls on both alike.
            turns = [("cognate", ours)] + ([("moto", theirs)] if theirs else [])
            rates = {}
            for name, (endpoint, pool_id) in turns if number % 2 == 0 else turns[::-1]:
                latencies, errors, elapsed, cpu = asyncio.run(
                    run(endpoint, pool_id, args.concurrency, args.seconds)
                )
                rates[name] = report(name, latencies, errors, elapsed, cpu)
            if theirs:
                ratios.append(rates["cognate"] / rates["moto"])
                print(f"round {number + 1}: ratio cognate/moto {ratios[-1]:.2f}")
    if ratios:
        print(
            f"ratio cognate/moto: median {statistics.median(ratios):.2f} over {len(ratios)} "
            f"rounds ({', '.join(f'{r:.2f}' for r in ratios)})"
        )


if __name__ == "__main__":
    main()
