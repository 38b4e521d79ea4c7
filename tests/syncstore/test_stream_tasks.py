"""One delivery task per dataset at a time, and one runner per bulk publish (in-process, tasks
inline; the stream itself is exercised against moto in test_streams.py)."""

import pytest
from django.core.cache import cache

from identity import selectors, services
from syncstore import services as sync_services
from syncstore import streams
from syncstore.models import BulkPublish, StreamRecord
from syncstore.streams import bulk, delivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset_id():
    pool = services.pool_create(name="queues", allow_unauthenticated=True)
    guest = services.identity_create_guest(pool=selectors.pool_view(pool.id))
    update = sync_services.records_update(
        identity=guest,
        dataset_name="notes",
        patches=[sync_services.Patch("k", "replace", "v", 0)],
        modified_by="test",
    )
    cache.delete(delivery._queued_key(update.dataset_id))
    yield update.dataset_id
    cache.delete(delivery._queued_key(update.dataset_id))


def waiting_row(dataset_id: int) -> StreamRecord:
    """A captured update of a pool that no longer streams: a delivery drops it."""
    pool_id = (
        StreamRecord._meta.get_field("pool")
        .related_model.objects.get(identities__datasets__id=dataset_id)
        .id
    )
    return StreamRecord.objects.create(
        pool_id=pool_id, dataset_id=dataset_id, sync_count=1, payload={}
    )


@pytest.fixture
def inline_tasks():
    """Tasks run in this process, as on the embedded defaults (with REDIS_URL they would go
    to a broker no worker reads here)."""
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def test_an_update_rides_with_the_delivery_already_queued(dataset_id, inline_tasks):
    row = waiting_row(dataset_id)
    cache.add(delivery._queued_key(dataset_id), 1, 60)  # a task is waiting for this dataset
    streams.delivery_queue(dataset_id)
    assert StreamRecord.objects.filter(pk=row.pk).exists()  # no second task ran

    streams.delivery_started(dataset_id)  # that task starts: later updates queue anew
    streams.delivery_queue(dataset_id)
    assert not StreamRecord.objects.filter(pk=row.pk).exists()  # delivered (here: dropped)


def test_a_bulk_publish_another_worker_runs_is_left_alone(dataset_id):
    pool_id = (
        StreamRecord._meta.get_field("pool")
        .related_model.objects.get(identities__datasets__id=dataset_id)
        .id
    )
    job = BulkPublish.objects.create(pool_id=pool_id)
    lease = bulk._bulk_lease_key(job.pk)
    cache.add(lease, 1, 60)
    try:
        streams.bulk_publish_run(job_id=job.pk)
        job.refresh_from_db()
        assert job.status == BulkPublish.Status.NOT_STARTED and job.started is None
    finally:
        cache.delete(lease)
    streams.bulk_publish_run(job_id=job.pk)  # no stream configured: it runs, and fails
    job.refresh_from_db()
    assert job.status == BulkPublish.Status.FAILED
    assert "turned off" in job.failure_message
    assert cache.get(lease) is None  # the lease is given back
