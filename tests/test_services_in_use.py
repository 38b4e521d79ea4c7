"""With DATABASE_URL and REDIS_URL set (as in CI), the live server really uses them."""

import pytest


@pytest.mark.postgres
@pytest.mark.redis
def test_live_server_runs_on_postgresql_and_redis(live):
    out = live.manage(
        "shell",
        "-c",
        "from django.db import connection; from django.conf import settings; "
        "print(connection.vendor, settings.CACHES['default']['BACKEND'], "
        "settings.CHANNEL_LAYERS['default']['BACKEND'], settings.CELERY_TASK_ALWAYS_EAGER)",
    ).stdout.splitlines()[-1]
    assert out.split() == [
        "postgresql",
        "config.cache.SharedRedisCache",
        "syncstore.layers.RedisPubSubChannelLayer",  # channels_redis pub/sub, resubscribing
        "False",
    ]
