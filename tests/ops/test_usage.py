"""Syncs per day: counted in the cache by every update, moved into DailyUsage by the flush
job, shown as flushed rows plus what is still in the cache. On the configured cache and, with
REDIS_URL, on Redis."""

import os
import threading
import time
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.utils import timezone

from syncstore import tasks, usage
from syncstore.models import DailyUsage, JobRun
from syncstore.services import RecordConflict
from tests.ops.conftest import write

pytestmark = pytest.mark.django_db

REDIS = os.environ.get("REDIS_URL", "")


@pytest.fixture(params=["configured", pytest.param("redis", marks=pytest.mark.redis)])
def cache_backend(request, settings):
    """The cache the settings give (file or memory in these runs), and Redis itself."""
    if request.param == "redis":
        settings.CACHES = {
            "default": {
                "BACKEND": "config.cache.SharedRedisCache",
                "LOCATION": REDIS,
                "KEY_PREFIX": os.environ.get("REDIS_KEY_PREFIX", "cognate") + "-usage-test",
            }
        }
    return request.param


def today():
    return timezone.now().date()


def test_each_update_counts_one_sync_today_before_any_flush(
    cache_backend, guest, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        write(guest, "notes", {"a": "1", "b": "2"})
        write(guest, "notes", {"a": "3"}, counts={"a": 1})
        write(guest, "prefs", {"theme": "dark"})
    days = usage.syncs_per_day(guest.pool_id)
    assert len(days) == 30
    assert days[-1] == (today(), 3)
    assert sum(count for _, count in days) == 3
    assert not DailyUsage.objects.exists()


def test_a_refused_update_counts_nothing(cache_backend, guest, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        write(guest, "notes", {"a": "1"})
        with pytest.raises(RecordConflict):
            write(guest, "notes", {"a": "2"}, counts={"a": 0})  # stale count
    assert usage.syncs_per_day(guest.pool_id)[-1] == (today(), 1)


def test_flush_moves_counts_into_daily_usage_and_running_it_again_adds_nothing(
    cache_backend, guest, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for number in range(4):
            write(guest, f"set{number}", {"k": "v"})
    report = tasks.usage_flush()
    assert report == {"syncs": 4, "pool_days": 1}
    row = DailyUsage.objects.get(pool_id=guest.pool_id)
    assert (row.day, row.syncs) == (today(), 4)

    again = tasks.usage_flush()
    assert again["syncs"] == 0
    assert DailyUsage.objects.get(pool_id=guest.pool_id).syncs == 4
    assert usage.syncs_per_day(guest.pool_id)[-1] == (today(), 4)  # not counted twice

    with django_capture_on_commit_callbacks(execute=True):
        write(guest, "set0", {"k": "w"}, counts={"k": 1})
    assert usage.syncs_per_day(guest.pool_id)[-1] == (today(), 5)  # 4 flushed + 1 pending
    tasks.usage_flush()
    assert DailyUsage.objects.get(pool_id=guest.pool_id).syncs == 5
    assert JobRun.objects.filter(name="usage-flush", error="").count() == 3


def test_earlier_days_show_their_flushed_rows(cache_backend, guest):
    DailyUsage.objects.create(pool_id=guest.pool_id, day=today() - timedelta(days=3), syncs=7)
    DailyUsage.objects.create(pool_id=guest.pool_id, day=today() - timedelta(days=45), syncs=9)
    days = dict(usage.syncs_per_day(guest.pool_id))
    assert days[today() - timedelta(days=3)] == 7
    assert sum(days.values()) == 7  # 45 days ago is outside the 30 shown


def test_no_count_is_lost_when_flushes_run_while_syncs_are_counted(cache_backend, guest):
    """Eight threads count 100 syncs each while flushes run: the flushed rows plus what is
    left in the cache come to exactly 800."""
    start = threading.Barrier(9)

    def count():
        start.wait()
        for _ in range(100):
            usage.sync_counted(pool_id=guest.pool_id)

    threads = [threading.Thread(target=count) for _ in range(8)]
    for thread in threads:
        thread.start()
    start.wait()
    while any(thread.is_alive() for thread in threads):
        usage.usage_flush()
    for thread in threads:
        thread.join()
    assert usage.syncs_per_day(guest.pool_id)[-1] == (today(), 800)
    usage.usage_flush()
    assert DailyUsage.objects.get(pool_id=guest.pool_id).syncs == 800


def test_counts_reach_the_cache_a_second_later_without_a_round_trip_each(cache_backend, guest):
    """Other processes (the dashboard, the flush job) read the cache: this process's counts
    get there within PUSH_AFTER, in one addition."""
    key = usage._syncs_key(guest.pool_id, today())
    for _ in range(3):
        usage.sync_counted(pool_id=guest.pool_id)
    assert caches["default"].get(key) is None  # not one round trip per update
    deadline = time.monotonic() + usage.PUSH_AFTER + 5
    while caches["default"].get(key) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert int(caches["default"].get(key)) == 3
