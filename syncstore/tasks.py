"""Celery tasks on sync data, and the periodic jobs of identity (every job leaves its JobRun
report here, syncstore/jobs.py). Each takes ids (never objects), calls services and is safe
to run twice; the periodic ones are scheduled in settings.CELERY_BEAT_SCHEDULE."""

from celery import shared_task


@shared_task
def usage_flush() -> dict:
    """Move the syncs counted in the cache into the pools' DailyUsage rows."""
    from syncstore import usage
    from syncstore.jobs import job_run

    return job_run("usage-flush", usage.usage_flush).report


# --- Cognito Streams and BulkPublish (syncstore/streams/) ----------------------------------
@shared_task(bind=True, max_retries=8, ignore_result=True)
def stream_deliver(self, dataset_id: int) -> None:
    """Send a dataset's pending stream records to Kinesis, in order; retried with
    exponential backoff (at most STREAMS_RETRY_MAX_DELAY apart), then left to the
    streams-redeliver sweep, which tries every minute until they are delivered. Run inline
    (no worker) it tries once, briefly, and leaves a failure to the sweep: a request never
    waits for retries nor fails because of the stream."""
    import random

    from django.conf import settings

    from syncstore import streams

    streams.delivery_started(dataset_id)
    eager = bool(self.request.is_eager)
    outcome = streams.dataset_deliver(dataset_id=dataset_id, quick=eager)
    if not outcome.failed:
        return
    delay = min(2 ** (self.request.retries + 1), settings.STREAMS_RETRY_MAX_DELAY)
    delay *= random.uniform(0.5, 1.0)
    if eager or self.request.retries >= self.max_retries:
        streams.delivery_deferred(dataset_id, settings.STREAMS_RETRY_MAX_DELAY)
        return
    streams.delivery_deferred(dataset_id, delay)
    raise self.retry(countdown=delay)


@shared_task
def streams_redeliver(now: str | None = None) -> dict:
    """Deliver stream records whose task was lost or is failing (older than 30 s)."""
    from syncstore import streams
    from syncstore.jobs import job_run, when

    return job_run("streams-redeliver", lambda: streams.pending_redeliver(now=when(now))).report


@shared_task(ignore_result=True)
def bulk_publish_run(job_id: int) -> None:
    """Run a BulkPublish job (a finished one is left alone)."""
    from syncstore import streams

    streams.bulk_publish_run(job_id=job_id)


# --- Retention (docs/operations.md) -------------------------------------------------------------
@shared_task
def retention_run(now: str | None = None) -> dict:
    """Every retention step, in one report: guests unused past their pool's retention,
    datasets a merge kept aside past theirs, revocations no credential can need any more,
    expired site sessions, old job reports."""
    from django.conf import settings
    from django.contrib.sessions.models import Session

    from identity import services as identity_services
    from syncstore import services
    from syncstore.jobs import job_run, when

    at = when(now)

    def work() -> dict:
        sessions = Session.objects.filter(expire_date__lt=at).delete()[0]
        return {
            **identity_services.guests_expire(now=at),
            **services.merged_datasets_expire(now=at),
            **identity_services.revocations_prune(now=at),
            "site_sessions_deleted": sessions,
            **services.job_reports_prune(now=at, keep_days=settings.JOBS_REPORTS_KEEP_DAYS),
        }

    return job_run("retention", work).report


# --- OpenID signing keys (identity/signing_keys.py) ----------------------------------------
@shared_task
def signing_key_rotation(now: str | None = None) -> dict:
    """Rotate the OpenID signing key once it is COGNATE_SIGNING_KEY_MAX_AGE_DAYS old; delete
    retired keys nothing can still need."""
    from django.conf import settings

    from identity import signing_keys
    from syncstore.jobs import job_run, when

    at = when(now)
    return job_run(
        "signing-key-rotation",
        lambda: signing_keys.signing_keys_maintain(
            now=at, max_age_days=settings.COGNATE_SIGNING_KEY_MAX_AGE_DAYS
        ),
    ).report
