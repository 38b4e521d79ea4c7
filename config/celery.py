"""The Celery app. Without REDIS_URL tasks run inline (CELERY_TASK_ALWAYS_EAGER)."""

import logging
import os

from celery import Celery
from django.db import transaction

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("cognate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)


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
