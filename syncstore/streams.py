"""Cognito Streams: every successful update of a dataset published to the pool's Kinesis
stream (reference §3.10), through an outbox written in the update's transaction."""

from syncstore.sql import RecordRow


def update_capture(
    *,
    pool_id: str,
    identity_id: str,
    dataset_id: int,
    dataset_name: str,
    sync_count: int,
    records: list[RecordRow],
    operation: str = "replace",
) -> None:
    """Called by every service that raises a dataset's sync count, inside its transaction."""
