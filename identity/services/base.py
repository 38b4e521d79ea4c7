"""What the service modules share: new ids, the time of an operation, and reloading the
configuration every process keeps in memory once a change commits."""

import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction

from identity import clock, selectors


def new_identity_id() -> str:
    return f"{settings.COGNATE_REGION}:{uuid.uuid4()}"


def config_changed() -> None:
    """Have every process reload pool and role configuration once this transaction commits."""
    transaction.on_commit(selectors.config_changed)


def moment(now: float | None = None) -> datetime:
    """`now` (epoch seconds) as a datetime, the clock's time when not given."""
    return datetime.fromtimestamp(clock.now() if now is None else now, UTC)
