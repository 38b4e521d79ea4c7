"""`/healthz`: whether the database and the channel layer answer."""

import asyncio

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import JsonResponse


def _database_ok() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "ok"
    except Exception as error:  # any failure is the answer, not a crash
        return f"error: {error.__class__.__name__}: {error}"


async def _channel_layer_ok() -> str:
    layer = get_channel_layer()
    if layer is None:
        return "error: no channel layer configured"
    try:
        async with asyncio.timeout(2):
            # new_channel() subscribes first where the layer needs it (Redis pub/sub).
            channel = await layer.new_channel("healthz.")
            await layer.send(channel, {"type": "healthz"})
            message = await layer.receive(channel)
        return "ok" if message.get("type") == "healthz" else "error: wrong message"
    except Exception as error:  # any failure is the answer, not a crash
        return f"error: {error.__class__.__name__}: {error}"


async def healthz(request):
    database = await sync_to_async(_database_ok)()
    channel_layer = await _channel_layer_ok()
    healthy = database == "ok" and channel_layer == "ok"
    return JsonResponse(
        {
            "status": "ok" if healthy else "unhealthy",
            "database": database,
            "channel_layer": channel_layer,
        },
        status=200 if healthy else 503,
    )
