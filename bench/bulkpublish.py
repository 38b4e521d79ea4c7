"""BulkPublish throughput: a pool of 10,000 identities with 5 datasets each (4 records of
about 40 bytes per dataset by default) republished into moto's Kinesis server. Prints
Kinesis records (one per dataset) per second and dataset records per second, timed by the
job's own BulkPublishStartTime/CompleteTime and by the wall clock from the BulkPublish call,
and checks that every dataset reached the stream.

    DATABASE_URL=postgres://... REDIS_URL=redis://... python bench/bulkpublish.py

The server gets a fresh database on the DATABASE_URL server (SQLite without it). With
REDIS_URL a real Celery worker runs the job; without it the job runs inline in the server
(embedded mode), inside the BulkPublish request.
"""

import argparse
import contextlib
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.servers import celery_worker, cognate, kinesis_records, moto

KEY = re.compile(r"AWS_ACCESS_KEY_ID=(\S+)\s+AWS_SECRET_ACCESS_KEY=(\S+)")
REGION = "us-east-1"

# Run inside the server's environment (manage.py shell): bulk inserts through the ORM.
SEED = """
import uuid
from django.db import transaction
from django.utils import timezone
from identity.models import Identity
from syncstore.models import Dataset, Record

pool_id, identities, datasets, records = {pool_id!r}, {identities}, {datasets}, {records}
now = timezone.now()
with transaction.atomic():
    people = Identity.objects.bulk_create(
        [Identity(id=f"{region}:{{uuid.uuid4()}}", pool_id=pool_id) for _ in range(identities)],
        batch_size=2000,
    )
    sets = Dataset.objects.bulk_create(
        [
            Dataset(
                identity=person,
                name=f"dataset-{{n}}",
                sync_count=records,
                data_storage=records * 40,
                record_count=records,
                created=now,
                modified=now,
            )
            for person in people
            for n in range(datasets)
        ],
        batch_size=2000,
    )
    Record.objects.bulk_create(
        [
            Record(
                dataset=each,
                key=f"key-{{n}}",
                value=f"value {{n}} of {{each.name}} " + "x" * 12,
                sync_count=n + 1,
                modified=now,
                device_modified=now,
            )
            for each in sets
            for n in range(records)
        ],
        batch_size=5000,
    )
print("seeded", len(people), len(sets))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identities", type=int, default=10_000)
    parser.add_argument("--datasets", type=int, default=5)
    parser.add_argument("--records", type=int, default=4, help="records per dataset")
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args()
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

    with (
        tempfile.TemporaryDirectory() as tmp,
        moto() as kinesis_url,
        cognate(
            Path(tmp),
            label="bulk",
            COGNATE_KINESIS_ENDPOINT_URL=kinesis_url,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
        ) as server,
    ):
        server.manage("createsuperuser", "--noinput", "--username", "bench", "--email", "b@x.io")
        key_id, secret = KEY.search(server.manage("create_access_key", "bench").stdout).groups()
        keys = {"aws_access_key_id": key_id, "aws_secret_access_key": secret}
        ops = boto3.client(
            "cognito-identity", endpoint_url=server.endpoint, region_name=REGION, **keys
        )
        sync = boto3.client(
            "cognito-sync", endpoint_url=server.endpoint, region_name=REGION, **keys
        )
        kinesis = boto3.client(
            "kinesis", endpoint_url=kinesis_url, region_name=REGION, **credentials
        )

        pool_id = ops.create_identity_pool(
            IdentityPoolName="bulk", AllowUnauthenticatedIdentities=True
        )["IdentityPoolId"]
        started = time.perf_counter()
        print(
            server.manage(
                "shell",
                "-c",
                SEED.format(
                    pool_id=pool_id,
                    region=REGION,
                    identities=args.identities,
                    datasets=args.datasets,
                    records=args.records,
                ),
            ).stdout.strip(),
            f"in {time.perf_counter() - started:.1f} s",
        )
        stream = "bulk-bench"
        kinesis.create_stream(StreamName=stream, ShardCount=args.shards)
        kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.1})
        sync.set_identity_pool_configuration(
            IdentityPoolId=pool_id,
            CognitoStreams={
                "StreamName": stream,
                "RoleArn": "arn:aws:iam::000000000000:role/streams",
                "StreamingStatus": "ENABLED",
            },
        )

        worker = bool(os.environ.get("REDIS_URL"))
        with celery_worker(server) if worker else contextlib.nullcontext():
            requested = time.perf_counter()
            sync.bulk_publish(IdentityPoolId=pool_id)
            while True:
                details = sync.get_bulk_publish_details(IdentityPoolId=pool_id)
                if details["BulkPublishStatus"] in ("SUCCEEDED", "FAILED"):
                    break
                time.sleep(0.2)
            wall = time.perf_counter() - requested
        if details["BulkPublishStatus"] != "SUCCEEDED":
            raise SystemExit(f"bulk publish failed: {details.get('FailureMessage')}")
        job = (details["BulkPublishCompleteTime"] - details["BulkPublishStartTime"]).total_seconds()
        datasets = args.identities * args.datasets
        records = datasets * args.records
        in_stream = len(kinesis_records(kinesis, stream))
        mode = "PostgreSQL" if server.env["DATABASE_URL"].startswith("postgres") else "SQLite"
        runner = "Celery worker (Redis)" if worker else "inline (embedded mode)"
        print(f"{mode}, {runner}, moto Kinesis with {args.shards} shards")
        print(
            f"pool: {args.identities} identities x {args.datasets} datasets "
            f"x {args.records} records"
        )
        print(f"Kinesis records in the stream: {in_stream} (expected {datasets})")
        if in_stream != datasets:
            raise SystemExit(f"{datasets - in_stream} datasets did not reach the stream")
        for label, seconds in (("job (start to complete)", job), ("wall (request to done)", wall)):
            print(
                f"{label}: {seconds:.1f} s, {datasets / seconds:,.0f} Kinesis records/s, "
                f"{records / seconds:,.0f} dataset records/s"
            )


if __name__ == "__main__":
    main()
