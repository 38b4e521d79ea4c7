"""Revocation times pushed over Redis: each process keeps what it has read while it hears
every revocation, so a check costs no round trip, and a revocation made elsewhere (a message
on the channel) is seen at once. Needs Redis (REDIS_URL)."""

import os
import time
import uuid

import pytest
from django.core.cache import cache, caches

from identity import credentials, revocations

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


def until(check, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not {what} after {timeout:g} s"
        time.sleep(0.02)


@pytest.fixture
def feed(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.SharedRedisCache",
            "LOCATION": os.environ.get("REDIS_URL", ""),
            "KEY_PREFIX": os.environ.get("REDIS_KEY_PREFIX", "cognate") + "-revocations-test",
        }
    }
    revocations.feed.start()
    until(lambda: revocations.feed.listening, "listening")
    return revocations.feed


def raw_redis():
    """A connection of its own, as another process would have."""
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])


def an_identity() -> str:
    return f"us-east-1:{uuid.uuid4()}"


def test_a_check_is_answered_from_memory_once_read(feed):
    identity_id, pool_id = an_identity(), an_identity()
    credentials.revocation_remember(identity_id=identity_id, not_before=100.0)
    assert credentials.is_revoked(identity_id, pool_id, issued_at=50.0)
    assert not credentials.is_revoked(identity_id, pool_id, issued_at=150.0)
    # The cache changed behind the feed's back (no message): memory still answers.
    cache.set(credentials._identity_key(identity_id), 200.0)
    assert not credentials.is_revoked(identity_id, pool_id, issued_at=150.0)


def test_a_revocation_published_by_another_process_is_seen_at_once(feed):
    identity_id, pool_id = an_identity(), an_identity()
    credentials.revocation_remember(identity_id=identity_id, not_before=100.0)
    assert not credentials.is_revoked(identity_id, pool_id, issued_at=150.0)
    key = credentials._identity_key(identity_id)
    cache.set(key, 200.0)  # what the other process writes, then publishes
    channel = caches["default"].make_and_validate_key(revocations.CHANNEL)
    assert raw_redis().publish(channel, f"{key} 200.0") >= 1
    until(lambda: credentials.is_revoked(identity_id, pool_id, issued_at=150.0), "revoked")


def test_a_deleted_pool_revokes_every_identity_of_it(feed):
    identity_id, pool_id = an_identity(), an_identity()
    credentials.revocation_remember(identity_id=identity_id, not_before=0.0)
    assert not credentials.is_revoked(identity_id, pool_id, issued_at=150.0)
    credentials.revocation_remember(pool_id=pool_id, not_before=credentials.GONE)
    assert credentials.is_revoked(identity_id, pool_id, issued_at=150.0)


def test_a_time_heard_while_the_cache_was_read_is_not_overwritten(feed):
    key = credentials._identity_key(an_identity())
    epoch = feed.epoch
    feed.heard(key, 5.0)  # a revocation's message arrives during the read
    feed.keep(epoch, {key: 0.0})
    assert feed.kept([key]) == [5.0]


def test_losing_the_channel_forgets_what_was_kept_until_it_listens_again(feed):
    identity_id, pool_id = an_identity(), an_identity()
    credentials.revocation_remember(identity_id=identity_id, not_before=100.0)
    assert not credentials.is_revoked(identity_id, pool_id, issued_at=150.0)
    keys = [credentials._identity_key(identity_id), credentials._pool_key(pool_id)]
    assert feed.kept(keys) == [100.0, 0.0]
    host, port = feed.pubsub.connection._sock.getsockname()[:2]
    raw_redis().client_kill(f"{host}:{port}")  # this process's listener only
    until(lambda: not feed.listening, "disconnected")
    assert feed.kept(keys) is None
    # Meanwhile checks read the cache, which a revocation without a listener still reaches.
    cache.set(keys[0], 200.0)
    assert credentials.is_revoked(identity_id, pool_id, issued_at=150.0)
    until(lambda: feed.listening, "listening again")
