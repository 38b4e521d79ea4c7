"""Cognito Events: the Sync Trigger (reference §3.10).

During an UpdateRecords made by an identity (not by an operator), the pool's SyncTrigger
target gets every record of the dataset with the proposed change, and answers with the same
shape: it may change, add or remove records; records it leaves out are taken as proposed.
The target is an AWS Lambda function (invoked with boto3; `COGNATE_LAMBDA_ENDPOINT_URL`
points elsewhere) or, as a Cognate extension, an HTTPS webhook that receives the event as a
JSON POST and answers with the JSON output (called through `identity.outbound`: never an
internal address unless COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES allows it).
docs/operations.md describes the contract.
"""

import functools
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError
from django.conf import settings

from aws.errors import (
    InvalidLambdaFunctionOutput,
    InvalidParameter,
    LambdaSocketTimeout,
    LambdaThrottled,
)
from identity import outbound

logger = logging.getLogger(__name__)

EVENT_TYPE = "SyncTrigger"
LAMBDA_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):\d{12}:function:[a-zA-Z0-9_-]+"
    r"(:(\$LATEST|[a-zA-Z0-9_-]+))?"
)
MAX_OUTPUT_BYTES = 6 * 1024 * 1024  # Lambda's own response limit


def target_check(target: str) -> str:
    """A SyncTrigger target as SetCognitoEvents accepts it: a Lambda function ARN, or an
    https:// webhook URL (http:// only where SYNC_TRIGGER_ALLOW_HTTP allows it) whose host is
    not an internal address (unless COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES allows it)."""
    if LAMBDA_ARN.fullmatch(target):
        return target
    if target.startswith("https://") or (
        target.startswith("http://") and settings.SYNC_TRIGGER_ALLOW_HTTP
    ):
        if len(target) > 2048 or any(c.isspace() for c in target) or not _host(target):
            raise InvalidParameter(f"SyncTrigger webhook URL {target[:60]!r} is not valid.")
        why = outbound.refusal(target, timeout=settings.SYNC_TRIGGER_TIMEOUT)
        if why:
            raise InvalidParameter(f"SyncTrigger webhook {target} is refused: {why}.")
        return target
    if target.startswith("http://"):
        raise InvalidParameter(
            "SyncTrigger webhooks must use https:// (set SYNC_TRIGGER_ALLOW_HTTP=true to allow "
            "http:// for local development)."
        )
    raise InvalidParameter(
        f"SyncTrigger target {target[:80]!r} is neither a Lambda function ARN "
        "(arn:aws:lambda:REGION:ACCOUNT:function:NAME) nor an https:// webhook URL."
    )


def _host(url: str) -> str:
    _, host, port = outbound.origin(url)
    return host if port is not None else ""


def event_build(
    *,
    pool_id: str,
    identity_id: str,
    dataset_name: str,
    current: Mapping[str, str],
    proposed: Mapping[str, tuple[str, str | None]],
) -> dict:
    """The trigger's input: every live record (`current`, key → value) and every proposed
    change (key → (op, new value or None)), in AWS's shape."""
    records: dict[str, dict[str, Any]] = {
        key: {"oldValue": value, "newValue": value, "op": "replace"}
        for key, value in current.items()
    }
    for key, (op, value) in proposed.items():
        records[key] = {"oldValue": current.get(key), "newValue": value, "op": op}
    return {
        "version": 2,
        "eventType": EVENT_TYPE,
        "region": pool_id.split(":", 1)[0],
        "identityPoolId": pool_id,
        "identityId": identity_id,
        "datasetName": dataset_name,
        "datasetRecords": records,
    }


def output_changes(event: dict, output: Any, *, target: str) -> dict[str, str | None]:
    """What the trigger's output changes against its input: key → new value (None removes).
    Records the output leaves out keep what the input proposed."""

    def invalid(why: str) -> InvalidLambdaFunctionOutput:
        return InvalidLambdaFunctionOutput(
            f"The SyncTrigger {_name(target)} returned output Cognate cannot use: {why}. It "
            'must return the event it was given, with "datasetRecords" changed as wanted.'
        )

    if not isinstance(output, dict):
        raise invalid("it is not a JSON object")
    records = output.get("datasetRecords")
    if not isinstance(records, dict):
        raise invalid('"datasetRecords" is missing or not an object')
    changes: dict[str, str | None] = {}
    for key, record in records.items():
        if not isinstance(record, dict):
            raise invalid(f"record {key[:40]!r} is not an object")
        op = record.get("op", "replace")
        value = record.get("newValue")
        if op not in ("replace", "remove"):
            raise invalid(f'record {key[:40]!r} has op {str(op)[:20]!r}, not "replace" or "remove"')
        if value is not None and not isinstance(value, str):
            raise invalid(f"record {key[:40]!r} has a newValue that is not a string")
        new = None if op == "remove" else value
        given = event["datasetRecords"].get(key)
        before = None if given is None or given["op"] == "remove" else given["newValue"]
        if given is None and new is None:
            continue  # removing a key that does not exist changes nothing
        if given is None or new != before:
            changes[key] = new
    return changes


def _name(target: str) -> str:
    return f"function {target}" if target.startswith("arn:") else f"webhook {target}"


def invoke(target: str, event: dict) -> Any:
    """Call the target with the event; its decoded JSON answer."""
    if target.startswith("arn:"):
        return _invoke_lambda(target, event)
    return _invoke_webhook(target, event)


@functools.cache
def _lambda_client(region: str):
    # Connecting and answering together keep within the limit.
    timeout = settings.SYNC_TRIGGER_TIMEOUT
    connect = min(1.0, timeout / 5)
    return boto3.client(
        "lambda",
        region_name=region,
        endpoint_url=settings.COGNATE_LAMBDA_ENDPOINT_URL,
        config=Config(
            connect_timeout=connect,
            read_timeout=timeout - connect,
            retries={"total_max_attempts": 1},
        ),
    )


def _timed_out(target: str) -> LambdaSocketTimeout:
    return LambdaSocketTimeout(
        f"The SyncTrigger {_name(target)} did not answer within "
        f"{settings.SYNC_TRIGGER_TIMEOUT:g} seconds; nothing was written. Try again."
    )


def _invoke_lambda(arn: str, event: dict) -> Any:
    match = LAMBDA_ARN.fullmatch(arn)
    assert match is not None
    try:
        response = _lambda_client(match["region"]).invoke(
            FunctionName=arn, InvocationType="RequestResponse", Payload=json.dumps(event)
        )
        payload = response["Payload"].read(MAX_OUTPUT_BYTES + 1)
    except (ReadTimeoutError, ConnectTimeoutError):
        raise _timed_out(arn) from None
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("TooManyRequestsException", "ThrottlingException"):
            raise LambdaThrottled(
                f"The SyncTrigger function {arn} is throttled; nothing was written. Try again "
                "shortly."
            ) from None
        raise InvalidLambdaFunctionOutput(
            f"The SyncTrigger function {arn} could not be invoked ({code}: "
            f"{error.response.get('Error', {}).get('Message', '')[:200]}); nothing was written."
        ) from None
    except BotoCoreError as error:
        logger.warning("SyncTrigger %s unreachable: %s", arn, error)
        raise LambdaSocketTimeout(
            f"The SyncTrigger function {arn} could not be reached; nothing was written."
        ) from None
    if response.get("FunctionError"):
        raise InvalidLambdaFunctionOutput(
            f"The SyncTrigger function {arn} failed ({response['FunctionError']}: "
            f"{payload[:200].decode(errors='replace')}); nothing was written."
        )
    return _decoded(arn, payload)


def _invoke_webhook(url: str, event: dict) -> Any:
    body = json.dumps(event, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "Cognate-SyncTrigger/1"}
    if settings.SYNC_TRIGGER_WEBHOOK_SECRET:
        digest = hmac.new(settings.SYNC_TRIGGER_WEBHOOK_SECRET.encode(), body, hashlib.sha256)
        headers["X-Cognate-Signature"] = f"sha256={digest.hexdigest()}"
    try:
        # The address is checked on the socket the call connects, not by an earlier lookup;
        # redirects are not followed (a 3xx is an answer that is not 200).
        answer = outbound.fetch(
            "POST",
            url,
            body=body,
            headers=headers,
            timeout=settings.SYNC_TRIGGER_TIMEOUT,
            max_bytes=MAX_OUTPUT_BYTES,
        )
    except outbound.Refused as refused:
        raise InvalidLambdaFunctionOutput(
            f"The SyncTrigger webhook {url} is refused: {refused.message}; nothing was written."
        ) from None
    except outbound.TimedOut:
        raise _timed_out(url) from None
    except outbound.TooLarge:
        raise InvalidLambdaFunctionOutput(
            f"The SyncTrigger webhook {url} returned more than {MAX_OUTPUT_BYTES} bytes; "
            "nothing was written."
        ) from None
    except outbound.Unreachable as error:
        logger.warning("SyncTrigger %s unreachable: %s", url, error.message)
        raise LambdaSocketTimeout(
            f"The SyncTrigger webhook {url} could not be reached or broke off its answer; "
            "nothing was written."
        ) from None
    if answer.status == 429:
        raise LambdaThrottled(
            f"The SyncTrigger webhook {url} is throttled (HTTP 429); nothing was written. Try "
            "again shortly."
        )
    if answer.status != 200:
        raise InvalidLambdaFunctionOutput(
            f"The SyncTrigger webhook {url} answered HTTP {answer.status}, not 200; "
            "nothing was written."
        )
    return _decoded(url, answer.body)


def _decoded(target: str, payload: bytes) -> Any:
    if len(payload) > MAX_OUTPUT_BYTES:
        raise InvalidLambdaFunctionOutput(
            f"The SyncTrigger {_name(target)} returned more than {MAX_OUTPUT_BYTES} bytes."
        )
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        raise InvalidLambdaFunctionOutput(
            f"The SyncTrigger {_name(target)} returned output that is not JSON: "
            f"{payload[:80].decode(errors='replace')!r}."
        ) from None


def patches_through_trigger(
    *,
    target: str,
    pool_id: str,
    identity_id: str,
    dataset_name: str,
    current: Mapping[str, str],
    patches: list,
) -> tuple[list, dict[str, str | None]]:
    """Run the trigger on an update: the client's patches as the trigger left or changed
    them, and the other records it added, changed or removed (key → value, None removes)."""
    proposed = {
        patch.key: (patch.op, patch.value if patch.op == "replace" else None) for patch in patches
    }
    event = event_build(
        pool_id=pool_id,
        identity_id=identity_id,
        dataset_name=dataset_name,
        current=current,
        proposed=proposed,
    )
    changes = output_changes(event, invoke(target, event), target=target)
    result = []
    for patch in patches:
        if patch.key in changes:
            value = changes.pop(patch.key)
            patch = replace(patch, op="remove" if value is None else "replace", value=value)
        result.append(patch)
    return result, changes
