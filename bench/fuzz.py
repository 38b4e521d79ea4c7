"""Fuzz the /aws endpoint: requests generated from the botocore models of every operation of
Cognito Identity, Cognito Sync, STS and the IAM subset (tests/support/fuzz.py), plus raw
malformed bodies, against a server started here. Prints, per operation, how many requests
were sent and how many got a 5xx, and the total of 5xx (which must be 0).

    python bench/fuzz.py                        # 50,000 requests on the embedded defaults
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test python bench/fuzz.py
    python bench/fuzz.py --requests 5000 --show 3   # fewer, and show 3 failing inputs
"""

import argparse
import http.client
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdef")
django.setup()

from tests.support import servers  # noqa: E402
from tests.support.fuzz import (  # noqa: E402
    OPERATIONS,
    RAW_BODIES,
    RAW_CONTENT_TYPES,
    fire,
    fire_raw,
    params_strategy,
    target_on,
)


def run_examples(service, operation, count, one, target) -> None:
    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(params=params_strategy(target, service, operation))
    def run(params):
        one(service, operation, params)

    run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--show", type=int, default=5, help="failing inputs to print")
    args = parser.parse_args()

    database = (
        "PostgreSQL" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
    )
    failures: list[str] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        servers.cognate(Path(tmp), label="fuzz", COGNATE_GUEST_RATE_LIMIT="100000000") as server,
    ):
        target = target_on(server)
        connection = [target.connection()]

        def one(service, operation, params):
            for attempt in range(2):
                try:
                    found = fire(target, service, operation, params, connection=connection[0])
                    break
                except (http.client.HTTPException, OSError):
                    connection[0].close()
                    connection[0] = target.connection()
                    if attempt:
                        raise
            if found and len(failures) < args.show:
                failures.append(f"{service} {operation} {params!r}\n    {found}")

        started = time.monotonic()
        per_round = max(1, args.requests // (len(OPERATIONS) * 4))
        sent = 0
        while sent < args.requests:
            for service, operation in OPERATIONS:
                run_examples(service, operation, per_round, one, target)
            for content_type in RAW_CONTENT_TYPES:
                for body in RAW_BODIES:
                    found = fire_raw(target, body, content_type, "GetId")
                    if found and len(failures) < args.show:
                        failures.append(f"raw {content_type} {body[:60]!r}\n    {found}")
            sent = sum(tally[0] for tally in target.counts.values())
            print(f"  {sent} requests, {time.monotonic() - started:.0f} s", file=sys.stderr)
        elapsed = time.monotonic() - started

    print(f"Fuzzing /aws on {database}: {sent} requests in {elapsed:.0f} s")
    print(f"{'service':18} {'operation':40} {'requests':>9} {'2xx':>7} {'5xx':>5}")
    for (service, operation), (count, faults, ok) in sorted(target.counts.items()):
        print(f"{service:18} {operation:40} {count:9d} {ok:7d} {faults:5d}")
    total = sum(tally[1] for tally in target.counts.values())
    print(f"5xx answers: {total}")
    for failure in failures:
        print("  " + failure)
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
