"""Celery tasks on sync data. Each takes ids (never objects), calls services and is safe to
run twice; the periodic ones are scheduled in settings.CELERY_BEAT_SCHEDULE and leave a
JobRun report (syncstore/jobs.py)."""

from celery import shared_task


@shared_task
def usage_flush() -> dict:
    """Move the syncs counted in the cache into the pools' DailyUsage rows."""
    from syncstore import usage
    from syncstore.jobs import job_run

    return job_run("usage-flush", usage.usage_flush).report
