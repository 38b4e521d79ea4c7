"""Merge cost: a guest with 20 datasets x 1,024 records merged into an identity with the same
datasets and keys (half the values equal, half different), under each merge policy. Prints
the time of the merge service (one transaction), and what it moved.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test python bench/merge.py

It runs in-process on a fresh database made on the server of DATABASE_URL (SQLite if unset).
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=int, default=20)
    parser.add_argument("--records", type=int, default=1024)
    parser.add_argument("--policies", nargs="*", default=["merge", "newest", "cognito"])
    args = parser.parse_args()

    from tests.support.servers import fresh_database

    with tempfile.TemporaryDirectory() as tmp, fresh_database("mergebench", Path(tmp)) as url:
        os.environ["DATABASE_URL"] = url
        os.environ.setdefault("SECRET_KEY", "bench-only")
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        run(args)
        from django.db import connections

        connections.close_all()


def run(args):
    from identity import selectors, services
    from identity.models import IdentityPool
    from syncstore import services as sync_services

    print(
        f"# {args.datasets} datasets x {args.records} records on each side; database "
        f"{os.environ['DATABASE_URL'].split('@')[-1].split('/')[0] or 'sqlite'}"
    )
    for policy in args.policies:
        pool = services.pool_create(
            name=f"bench-{policy}",
            allow_unauthenticated=True,
            tags={IdentityPool.MERGE_POLICY_TAG: policy},
        )
        view = selectors.pool_view(pool.id)
        account = services.identity_create_guest(pool=view)
        guest = services.identity_create_guest(pool=view)
        started = time.perf_counter()
        for identity, side in ((account, "account"), (guest, "guest")):
            for n in range(args.datasets):
                patches = [
                    sync_services.Patch(
                        f"key-{k:04}",
                        "replace",
                        f"{'same' if k % 2 else side} value {k} " + "x" * 60,
                        0,
                    )
                    for k in range(args.records)
                ]
                sync_services.records_update(
                    identity=identity,
                    dataset_name=f"set-{n:02}",
                    patches=patches,
                    modified_by=side,
                )
        filled = time.perf_counter() - started
        started = time.perf_counter()
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats

            profile = cProfile.Profile()
            profile.enable()
        record = services.identity_merge(merged=guest, survivor=account, trigger="bench", logins=[])
        took = time.perf_counter() - started
        if os.environ.get("BENCH_PROFILE"):
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
        added = sum(item["added"] for item in record.summary)
        kept = sum(sum(item["kept"].values()) for item in record.summary)
        print(
            f"{policy:8} merge {took:6.2f} s   (values into roots {added}, kept in merged "
            f"datasets {kept}; filling both took {filled:.1f} s)"
        )


if __name__ == "__main__":
    main()
