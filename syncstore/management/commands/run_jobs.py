"""Run the periodic jobs once, now: for cron, or the embedded defaults (which have no beat)."""

import json
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from syncstore import tasks

JOBS = {
    "retention": tasks.retention_run,
    "signing-key-rotation": tasks.signing_key_rotation,
    "streams-redeliver": tasks.streams_redeliver,
    "usage-flush": tasks.usage_flush,
}
TAKES_NOW = {"retention", "signing-key-rotation", "streams-redeliver"}


class Command(BaseCommand):
    help = (
        "Run Cognate's periodic jobs once, in this process, and print what each did. "
        f"Jobs: {', '.join(JOBS)} (all when none is named)."
    )

    def add_arguments(self, parser):
        parser.add_argument("jobs", nargs="*", metavar="JOB", help="jobs to run (default: all)")
        parser.add_argument(
            "--now",
            help="run as if it were this time (ISO 8601 with a zone, e.g. 2027-01-01T00:00Z)",
        )

    def handle(self, *args, jobs, now, **options):
        unknown = sorted(set(jobs) - set(JOBS))
        if unknown:
            raise CommandError(f"Unknown job {unknown[0]!r}; the jobs are: {', '.join(JOBS)}.")
        if now is not None:
            try:
                moment = datetime.fromisoformat(now)
            except ValueError:
                raise CommandError(f"--now {now!r} is not an ISO 8601 time.") from None
            if moment.tzinfo is None:
                raise CommandError(f"--now {now!r} needs a time zone, e.g. {now}Z.")
            now = moment.isoformat()
        for name in jobs or JOBS:
            task = JOBS[name]
            report = task(now=now) if name in TAKES_NOW else task()
            self.stdout.write(f"{name}: {json.dumps(report, sort_keys=True, default=str)}")
