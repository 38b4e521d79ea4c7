"""Cognito Streams: every successful update of a dataset published to the pool's Kinesis
stream (reference §3.10), through an outbox written in the update's transaction; and
BulkPublish, which republishes every dataset of a pool. docs/streams.md explains both.

`config` checks and reads the pool's streaming configuration, `payloads` is the record
format, `delivery` the outbox and its delivery, `kinesis` the client, `bulk` BulkPublish.
The names the services, tasks, admin and API call are here."""

from syncstore.streams.bulk import bulk_publish_latest, bulk_publish_request, bulk_publish_run
from syncstore.streams.config import pending_drop, streams_config_checked
from syncstore.streams.delivery import (
    dataset_deliver,
    delivery_deferred,
    delivery_queue,
    delivery_started,
    pending_redeliver,
    update_capture,
)

__all__ = [
    "bulk_publish_latest",
    "bulk_publish_request",
    "bulk_publish_run",
    "dataset_deliver",
    "delivery_deferred",
    "delivery_queue",
    "delivery_started",
    "pending_drop",
    "pending_redeliver",
    "streams_config_checked",
    "update_capture",
]
