"""Celery tasks on identities. Each takes ids (never objects), calls services and is safe to
run twice; the periodic ones are scheduled in settings.CELERY_BEAT_SCHEDULE and leave a
JobRun report (syncstore/jobs.py)."""

from celery import shared_task
