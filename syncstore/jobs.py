"""Running background jobs so that each leaves a report: a JobRun row with what it did (or
the error that stopped it), shown in the admin and printed by `manage.py run_jobs`."""

import logging
import traceback
from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from syncstore.models import JobRun

logger = logging.getLogger(__name__)


def job_run(name: str, work: Callable[[], dict]) -> JobRun:
    """Run `work` (which returns its report) and record it. An error is recorded and
    raised again, so Celery retries or marks the task failed as it should."""
    run = JobRun.objects.create(name=name, started=timezone.now())
    try:
        report = work()
    except Exception as error:
        run.finished = timezone.now()
        run.error = "".join(traceback.format_exception_only(error)).strip()
        run.save(update_fields=["finished", "error"])
        logger.exception("job %s failed", name)
        raise
    run.finished = timezone.now()
    run.report = report
    run.save(update_fields=["finished", "report"])
    logger.info("job %s: %s", name, report)
    return run


def when(now: str | datetime | None) -> datetime:
    """A job's clock: `now` when given (ISO text through the queue, or a datetime), the real
    time otherwise. Tests pass a time instead of waiting."""
    if now is None:
        return timezone.now()
    if isinstance(now, str):
        return datetime.fromisoformat(now)
    return now


def enqueue_after_commit(task, *args, **kwargs) -> None:
    """Queue `task` once the current transaction has committed (at once outside one). A
    broker that cannot be reached costs a log line, never the committed request: every job
    that matters is also picked up by a periodic sweep."""

    def send() -> None:
        try:
            task.delay(*args, **kwargs)
        except Exception:
            logger.exception("could not queue %s%r", task.name, args)

    transaction.on_commit(send)
