"""Developer-authenticated sign-in throughput, with the method of `bench/identity.py`: N
concurrent app backends each call GetOpenIdTokenForDeveloperIdentity (SigV4-signed with an
operator's access key, as boto3 does) in a loop for a fixed time. Prints calls per second and
p50/p99 latency for new users (each call makes an identity) and for returning users (each
call finds one), for this server and for moto's server (both up for the whole run, measured
in turn for `--rounds` rounds), the ratios of each round with their medians, and the CPU
time each part of the machine spent per call (bench/cpu.py).

    python bench/developer.py --seconds 20 --workers 2

The server is started with the current environment (DATABASE_URL selects PostgreSQL).
"""

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.cpu import CpuTimes
from tests.support.servers import PYTHON, cognate, free_port, stop, wait_for

TARGET = "AWSCognitoIdentityService.GetOpenIdTokenForDeveloperIdentity"
PROVIDER = "login.bench"
KEY = re.compile(r"AWS_ACCESS_KEY_ID=(\S+)\s+AWS_SECRET_ACCESS_KEY=(\S+)")


def signed(endpoint: str, credentials: Credentials, body: dict) -> tuple[bytes, dict]:
    request = AWSRequest(
        method="POST",
        url=endpoint,
        data=json.dumps(body).encode(),
        headers={"X-Amz-Target": TARGET, "Content-Type": "application/x-amz-json-1.1"},
    )
    SigV4Auth(credentials, "cognito-identity", "us-east-1").add_auth(request)
    return request.body, dict(request.headers.items())


async def backend(target, users, deadline, latencies, errors):
    endpoint, pool_id, credentials = target
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        while time.perf_counter() < deadline:
            body, headers = signed(
                endpoint,
                credentials,
                {"IdentityPoolId": pool_id, "Logins": {PROVIDER: next(users)}},
            )
            started = time.perf_counter()
            try:
                async with session.post(endpoint, data=body, headers=headers) as response:
                    payload = await response.json(content_type=None)
                    if response.status != 200 or "Token" not in payload:
                        raise RuntimeError(f"{response.status} {payload}")
            except Exception as error:  # count and go on: the figure must say so
                errors.append(repr(error))
                continue
            latencies.append(time.perf_counter() - started)


async def run(target, users, concurrency, seconds):
    latencies, errors = [], []
    started = time.perf_counter()
    deadline = started + seconds
    with CpuTimes() as cpu:
        await asyncio.gather(
            *(backend(target, users, deadline, latencies, errors) for _ in range(concurrency))
        )
    return latencies, errors, time.perf_counter() - started, cpu


def report(name, latencies, errors, elapsed, cpu):
    rate = len(latencies) / elapsed
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
    print(
        f"{name:18} calls/s {rate:8.1f}   p50 {cuts[49] * 1000:7.1f} ms   "
        f"p99 {cuts[98] * 1000:7.1f} ms   calls {len(latencies)}   errors {len(errors)}"
    )
    print(f"{'':18} CPU per call: {cpu.per(len(latencies))}")
    if errors:
        print(f"                   first error: {errors[0][:300]}")
    return rate


RETURNING = [f"returning-{n}" for n in range(200)]


def measure(name, target, concurrency, seconds, new_users) -> tuple[float, float]:
    """Calls/s for new users (from `new_users`) and then for the returning ones."""
    new = report(f"{name} new", *asyncio.run(run(target, new_users, concurrency, seconds)))
    again = report(
        f"{name} returning",
        *asyncio.run(run(target, itertools.cycle(RETURNING), concurrency, seconds)),
    )
    return new, again


async def _register(target, users):
    pending = iter(users)
    errors: list[str] = []

    async def one():
        async with aiohttp.ClientSession() as session:
            endpoint, pool_id, credentials = target
            for user in pending:
                body, headers = signed(
                    endpoint, credentials, {"IdentityPoolId": pool_id, "Logins": {PROVIDER: user}}
                )
                async with session.post(endpoint, data=body, headers=headers) as response:
                    if response.status != 200:
                        errors.append(await response.text())

    await asyncio.gather(*(one() for _ in range(4)))
    if errors:
        raise SystemExit(f"could not register the returning users: {errors[0]}")


@contextlib.contextmanager
def cognate_target(workers: int):
    with (
        tempfile.TemporaryDirectory() as tmp,
        cognate(Path(tmp), workers=workers, label="dev") as server,
    ):
        server.manage("createsuperuser", "--noinput", "--username", "bench", "--email", "b@x.test")
        key_id, secret = KEY.search(server.manage("create_access_key", "bench").stdout).groups()
        out = server.manage(
            "shell",
            "-c",
            "from identity import services; "
            f"print(services.pool_create(name='bench', developer_provider_name={PROVIDER!r}).id)",
        ).stdout
        pool_id = out.strip().splitlines()[-1]
        yield server.endpoint, pool_id, Credentials(key_id, secret)


@contextlib.contextmanager
def moto_target():
    import boto3

    port = free_port()
    process = subprocess.Popen(
        [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        wait_for(f"{endpoint}/moto-api/", process=process)
        pool = boto3.client(
            "cognito-identity",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_identity_pool(
            IdentityPoolName="bench",
            AllowUnauthenticatedIdentities=False,
            DeveloperProviderName=PROVIDER,
        )
        yield endpoint, pool["IdentityPoolId"], Credentials("testing", "testing")
    finally:
        stop(process)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
    parser.add_argument(
        "--rounds", type=int, default=3, help="measurements of each server, alternated"
    )
    parser.add_argument("--skip-moto", action="store_true")
    args = parser.parse_args()
    print(
        f"# {args.concurrency} backends, {args.seconds:g} s each; database "
        f"{os.environ.get('DATABASE_URL', 'sqlite (embedded default)').split('@')[-1]}"
    )
    counter = itertools.count()
    new_users = (f"new-{n}" for n in counter)  # never the same twice, on either server
    ratios: list[tuple[float, float]] = []
    with contextlib.ExitStack() as servers:
        turns = [("cognate", servers.enter_context(cognate_target(args.workers)))]
        if not args.skip_moto:
            turns.append(("moto", servers.enter_context(moto_target())))
        for _, target in turns:  # the users that come back in the second measurement
            asyncio.run(_register(target, RETURNING))
        for number in range(args.rounds):
            # Both servers are up for the whole run and measured in turn, the order swapped
            # every round: the machine's drift falls on both alike.
            rates = {
                name: measure(name, target, args.concurrency, args.seconds, new_users)
                for name, target in (turns if number % 2 == 0 else turns[::-1])
            }
            if "moto" in rates:
                (ours_new, ours_again), (theirs_new, theirs_again) = rates["cognate"], rates["moto"]
                ratios.append((ours_new / theirs_new, ours_again / theirs_again))
                print(
                    f"round {number + 1}: ratio cognate/moto new users {ratios[-1][0]:.2f}, "
                    f"returning users {ratios[-1][1]:.2f}"
                )
    if ratios:
        for label, index in (("new users", 0), ("returning users", 1)):
            each = [pair[index] for pair in ratios]
            print(
                f"ratio cognate/moto, {label}: median {statistics.median(each):.2f} over "
                f"{len(each)} rounds ({', '.join(f'{r:.2f}' for r in each)})"
            )


if __name__ == "__main__":
    main()
