"""Whether and where a pool streams: the CognitoStreams structure checked as it is set, the
stream its updates go to now, and streaming turned off when the stream cannot take them."""

import json
import logging
import re

from django.db import connection, transaction
from django.utils import timezone

from aws.errors import InvalidParameter
from identity import selectors as identity_selectors
from syncstore import selectors
from syncstore.models import PoolSyncConfig, StreamRecord

logger = logging.getLogger(__name__)

STREAM_NAME = re.compile(r"[a-zA-Z0-9_.-]{1,128}")
ROLE_ARN = re.compile(r"arn:aws:iam::\d+:role/.*")
CONFIG_TABLE = PoolSyncConfig._meta.db_table


def streams_config_checked(streams: dict) -> dict:
    """A CognitoStreams structure as it will be kept (StreamingStatus defaults to ENABLED),
    or InvalidParameter saying what to fix."""
    streams = {"StreamingStatus": "ENABLED", **streams}
    status = streams["StreamingStatus"]
    if status not in ("ENABLED", "DISABLED"):
        raise InvalidParameter(
            f"CognitoStreams.StreamingStatus must be ENABLED or DISABLED, not '{status}'."
        )
    name = streams.get("StreamName")
    if name is None and status == "ENABLED":
        raise InvalidParameter(
            "CognitoStreams.StreamName is needed to enable streaming: name the Kinesis stream "
            "that should receive the pool's updates."
        )
    if name is not None and not STREAM_NAME.fullmatch(name):
        raise InvalidParameter(
            f"CognitoStreams.StreamName '{name[:140]}' is not a Kinesis stream name: 1 to 128 "
            "letters, digits, '_', '.' or '-'."
        )
    role = streams.get("RoleArn")
    if role is not None and not (20 <= len(role) <= 2048 and ROLE_ARN.fullmatch(role)):
        raise InvalidParameter(
            f"CognitoStreams.RoleArn '{role[:100]}' is not an IAM role ARN "
            "(arn:aws:iam::<account>:role/<name>, 20 to 2048 characters)."
        )
    return streams


def enabled_stream(streams: dict) -> str | None:
    """The stream a kept CognitoStreams structure sends to, None when streaming is off."""
    if streams.get("StreamingStatus") == "ENABLED" and streams.get("StreamName"):
        return streams["StreamName"]
    return None


def streaming_target(pool_id: str) -> str | None:
    """The stream that receives the pool's updates, None when streaming is off, as the
    database has it now (delivery and bulk publish ask; updates use the copy in memory)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT cognito_streams FROM {CONFIG_TABLE} WHERE pool_id = %s",  # noqa: S608
            [pool_id],
        )
        row = cursor.fetchone()
    if row is None or not row[0]:
        return None
    streams = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    return enabled_stream(streams)


def pending_drop(*, pool_id: str) -> int:
    """Forget the pool's undelivered stream records (streaming was turned off)."""
    dropped, _ = StreamRecord.objects.filter(pool_id=pool_id).delete()
    return dropped


@transaction.atomic
def streaming_stop(*, pool_id: str, stream_name: str, reason: str) -> int:
    """Turn streaming off because the stream cannot take records any more (as AWS does when
    the stream is deleted), if the pool still streams to it; drop what was pending."""
    config = PoolSyncConfig.objects.select_for_update().filter(pool_id=pool_id).first()
    if config is None or enabled_stream(config.cognito_streams) != stream_name:
        return 0
    config.cognito_streams = {**config.cognito_streams, "StreamingStatus": "DISABLED"}
    config.modified = timezone.now()
    config.save(update_fields=["cognito_streams", "modified"])
    selectors.sync_config_forget(pool_id)
    transaction.on_commit(identity_selectors.config_changed)
    dropped = pending_drop(pool_id=pool_id)
    logger.warning(
        "Cognito Streams of pool %s disabled: stream %r %s; %d pending records dropped",
        pool_id,
        stream_name,
        reason,
        dropped,
    )
    return dropped
