"""The Kinesis clients Cognate sends stream records with, and what their errors say."""

import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from django.conf import settings

_clients: dict[tuple[str, bool], Any] = {}
_clients_lock = threading.Lock()


def kinesis_client(pool_id: str, *, quick: bool = False):
    """A Kinesis client in the pool's region (the part of its id before ':'), with
    Cognate's own AWS credentials and COGNATE_KINESIS_ENDPOINT_URL. Clients are shared.
    A `quick` one (deliveries run inline, in a request's process) tries once, briefly:
    an unreachable stream must not hold up the request; the sweep tries again."""
    region = pool_id.split(":", 1)[0]
    with _clients_lock:
        if (region, quick) not in _clients:
            _clients[region, quick] = boto3.session.Session().client(
                "kinesis",
                endpoint_url=settings.COGNATE_KINESIS_ENDPOINT_URL,
                region_name=region,
                config=Config(
                    connect_timeout=2 if quick else 5,
                    read_timeout=5 if quick else 20,
                    retries={"max_attempts": 1 if quick else 3, "mode": "standard"},
                ),
            )
        return _clients[region, quick]


def error_code(error: Exception) -> str:
    """The AWS error code of a failed call ('' when it failed before Kinesis answered)."""
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code", "")
    return ""


def error_description(error: Exception) -> str:
    """A failed call in one line, for logs and FailureMessage."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code')}: {details.get('Message')}"[:2000]
    return f"{type(error).__name__}: {error}"[:2000]
