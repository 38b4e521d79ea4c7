"""Real-time fan-out over /ws/sync, on real sockets.

1. One identity with D connected devices (D = 1, 10, 100); one device pushes a patch; the time
   until every other device has the `changed` event, p50/p99 over many pushes. Run with the
   in-memory channel layer (one server process) and, when REDIS_URL is set, with Redis and two
   server processes (devices split between them, pushes through the first).
2. Memory per idle connection: RSS of one server process before and after opening 5,000
   authenticated idle sockets.

    python bench/fanout.py                    # in-memory layer, one process
    REDIS_URL=redis://127.0.0.1:6379/0 DATABASE_URL=postgres://... python bench/fanout.py

Servers are started by the script with the current environment.
"""

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.sync import identity_call
from tests.support import servers

POOL = "us-east-1:dec0de00-0000-4000-8000-000000000001"
BENCH_ENV = {
    "SYNC_WS_PUSHES_PER_SECOND": "1000",
    "SYNC_WS_PUSH_BURST": "1000",
    "SYNC_WS_MAX_SOCKETS_PER_IDENTITY": "100000",
    "SYNC_WS_IDLE_TIMEOUT": "3600",
}


async def guest_token(session, endpoint):
    identity_id = (await identity_call(session, endpoint, "GetId", {"IdentityPoolId": POOL}))[
        "IdentityId"
    ]
    token = (await identity_call(session, endpoint, "GetOpenIdToken", {"IdentityId": identity_id}))[
        "Token"
    ]
    return identity_id, token


async def open_device(url, token):
    """A device's socket, authenticated the way the browser client does: first message."""
    ws = await websockets.connect(
        url.replace("http://", "ws://") + "/ws/sync",
        subprotocols=["cognate.sync.v1"],
        max_queue=None,
    )
    await ws.send(json.dumps({"type": "auth", "token": token}))
    ready = json.loads(await ws.recv())
    assert ready["type"] == "ready", ready
    return ws


async def wait_changed(ws, count):
    while True:
        message = json.loads(await ws.recv())
        if message["type"] == "changed" and message["syncCount"] >= count:
            return time.perf_counter()


async def fanout(urls, devices, pushes):
    """Seconds from sending a push until the last other device has its `changed` event."""
    async with aiohttp.ClientSession() as session:
        _, token = await guest_token(session, f"{urls[0]}/aws")
    sockets = [await open_device(urls[n % len(urls)], token) for n in range(devices)]
    pusher, listeners = sockets[0], sockets[1:]
    delays = []
    try:
        for n in range(1, pushes + 1):
            waiting = [asyncio.ensure_future(wait_changed(ws, n)) for ws in listeners]
            started = time.perf_counter()
            await pusher.send(
                json.dumps(
                    {
                        "type": "push",
                        "id": n,
                        "dataset": "fanout",
                        "patches": [
                            {"Op": "replace", "Key": "k", "Value": str(n), "SyncCount": n - 1}
                        ],
                    }
                )
            )
            while True:  # the pusher's own answer
                reply = json.loads(await pusher.recv())
                if reply.get("id") == n:
                    assert reply["type"] == "pushed", reply
                    break
            arrivals = (
                await asyncio.wait_for(asyncio.gather(*waiting), 10)
                if waiting
                else [time.perf_counter()]
            )
            delays.append(max(arrivals) - started)
    finally:
        for ws in sockets:
            await ws.close()
    return delays


def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def idle_memory(url, pid, sockets, per_identity=5):
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=20)) as session:
        tokens = await asyncio.gather(
            *(guest_token(session, f"{url}/aws") for _ in range(sockets // per_identity))
        )
    warm = [await open_device(url, tokens[0][1]) for _ in range(5)]
    for ws in warm:
        await ws.close()
    await asyncio.sleep(1)
    before = rss_kb(pid)
    opened = []
    semaphore = asyncio.Semaphore(50)

    async def one(token):
        async with semaphore:
            opened.append(await open_device(url, token))

    started = time.perf_counter()
    await asyncio.gather(*(one(tokens[n // per_identity][1]) for n in range(sockets)))
    took = time.perf_counter() - started
    await asyncio.sleep(3)
    after = rss_kb(pid)
    for ws in opened:
        await ws.close()
    return before, after, len(opened), took


def report_fanout(label, devices, delays):
    cuts = statistics.quantiles(delays, n=100)
    print(
        f"{label:24} D={devices:4}  p50 {cuts[49] * 1000:7.2f} ms   "
        f"p99 {cuts[98] * 1000:7.2f} ms   ({len(delays)} pushes)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pushes", type=int, default=1000)
    parser.add_argument("--devices", type=int, nargs="*", default=[1, 10, 100])
    parser.add_argument("--idle", type=int, default=5000, help="idle sockets (0: skip)")
    parser.add_argument(
        "--server",
        choices=["daphne", "uvicorn"],
        default="daphne",
        help="the ASGI server of each process",
    )
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    redis = os.environ.get("REDIS_URL")
    print(
        f"# database {os.environ.get('DATABASE_URL', 'sqlite').split('@')[-1]}; "
        f"channel layer {'Redis' if redis else 'in-memory'}; server {args.server}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        setups = (
            [("in-memory, 1 process", 1)]
            if not redis
            else [("Redis, 1 process", 1), ("Redis, 2 processes", 2)]
        )
        for label, processes in setups:
            env = {**BENCH_ENV}
            with servers.cognate(
                Path(tmp),
                processes=processes,
                label=f"fan{processes}",
                server_command=args.server,
                **env,
            ) as live:
                live.manage("ensure_demo_pool")
                for devices in args.devices:
                    delays = asyncio.run(fanout(live.urls, devices, args.pushes))
                    report_fanout(label, devices, delays)
        if args.idle:
            with servers.cognate(
                Path(tmp), label="idle", server_command=args.server, **BENCH_ENV
            ) as live:
                live.manage("ensure_demo_pool")
                pid = live.processes[0].pid
                before, after, count, took = asyncio.run(idle_memory(live.url, pid, args.idle))
                print(
                    f"idle sockets: {count} opened in {took:.1f} s; server RSS "
                    f"{before / 1024:.1f} MiB -> {after / 1024:.1f} MiB: "
                    f"{(after - before) / count:.1f} KiB per socket"
                )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
