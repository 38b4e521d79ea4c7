"""Celery tasks on identities. Each takes ids (never objects), calls services and is safe to
run twice; the periodic ones are scheduled in settings.CELERY_BEAT_SCHEDULE and leave a
JobRun report (syncstore/jobs.py)."""

from celery import shared_task
from django.conf import settings

from identity import services
from syncstore.jobs import job_run, when


@shared_task
def signing_key_rotation(now: str | None = None) -> dict:
    """Rotate the OpenID signing key once it is COGNATE_SIGNING_KEY_MAX_AGE_DAYS old; delete
    retired keys nothing can still need."""
    at = when(now)
    return job_run(
        "signing-key-rotation",
        lambda: services.signing_keys_maintain(
            now=at, max_age_days=settings.COGNATE_SIGNING_KEY_MAX_AGE_DAYS
        ),
    ).report
