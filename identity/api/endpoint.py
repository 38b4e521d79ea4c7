"""The RPC protocols at `/aws` (reference §1.1). Requests with an
`X-Amz-Target` header are AWS JSON 1.1 (Cognito Identity); form-encoded bodies with an
`Action` are the query protocol (STS). Every answer, error or not, is in the protocol's
shape; a real fault is logged and answered with InternalErrorException (500)."""

import json
import logging
from urllib.parse import parse_qsl

from django.conf import settings
from django.db import DatabaseError

from identity import shapes
from identity.api import cognito_identity, render, sts
from identity.api import query as query_params
from identity.api.render import ApiResponse
from identity.auth import authenticate
from identity.errors import (
    AwsError,
    InternalError,
    InvalidParameter,
    RequestTooLarge,
    SerializationFailed,
    UnknownOperation,
)
from identity.sigv4 import ArrivedRequest

logger = logging.getLogger(__name__)

TARGET_PREFIX = "AWSCognitoIdentityService."
JSON_TYPES = {"application/x-amz-json-1.1", "application/x-amz-json-1.0", "application/json"}
FORM_TYPE = "application/x-www-form-urlencoded"


# --- AWS JSON 1.1: Cognito Identity -----------------------------------------------------------
def handle_cognito_identity(arrived: ArrivedRequest, target: str, kind: str) -> dict:
    name = target.removeprefix(TARGET_PREFIX)
    operation = shapes.operation_model("cognito-identity", name)
    handler = cognito_identity.HANDLERS.get(name)
    if not target.startswith(TARGET_PREFIX) or operation is None:
        raise UnknownOperation(
            f"Unknown operation {target!r}: the X-Amz-Target header must be "
            f"{TARGET_PREFIX}<Operation> with an operation of Cognito Identity."
        )
    if handler is None:
        raise UnknownOperation(f"The operation {name} is not supported by this server.")
    if kind not in JSON_TYPES:
        raise SerializationFailed(
            f"Content-Type {kind or '(none)'!r} is not accepted here: AWS JSON requests must be "
            "sent as application/x-amz-json-1.1."
        )
    try:
        params = json.loads(arrived.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise SerializationFailed("The request body is not valid JSON.") from None
    if not isinstance(params, dict):
        raise SerializationFailed("The request body must be a JSON object.")
    caller = None
    if operation.auth_type != "none":
        caller = authenticate(arrived, service="cognito-identity")
    shapes.validate(operation.input_shape, params)
    return handler(caller, params)


# --- Query protocol: STS ----------------------------------------------------------------------
def handle_query(arrived: ArrivedRequest) -> tuple[str, dict]:
    try:
        form = dict(parse_qsl(arrived.body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise SerializationFailed("The form-encoded request body is not valid UTF-8.") from None
    action = form.get("Action", "")
    operation = shapes.operation_model("sts", action)
    handler = sts.HANDLERS.get(action)
    if operation is None or handler is None:
        raise UnknownOperation(
            f"Could not find operation {action or '(no Action)'} for version "
            f"{form.get('Version', '(none)')}. This endpoint serves the STS actions "
            f"{', '.join(sorted(sts.HANDLERS))} (Version {sts.VERSION})."
        )
    version = form.get("Version")
    if version is not None and version != sts.VERSION:
        raise InvalidParameter(f"Version {version} is not supported; use {sts.VERSION}.")
    caller = None
    if operation.auth_type != "none":
        caller = authenticate(arrived, service="sts")
    params = query_params.parse(operation.input_shape, form)
    shapes.validate(operation.input_shape, params)
    return action, handler(caller, params)


def respond(arrived: ArrivedRequest, request_id: str, *, oversize: bool = False) -> ApiResponse:
    """Answer a request to the RPC endpoint, in the shape of the protocol it was sent in."""
    target = arrived.headers.get("x-amz-target")
    kind = arrived.headers.get("content-type", "").split(";")[0].strip().lower()
    protocol = "query" if not target and kind == FORM_TYPE else "json"
    try:
        if oversize:
            raise RequestTooLarge(
                "The request body is larger than this server accepts "
                f"({settings.COGNATE_MAX_BODY_BYTES} bytes); send less data per request."
            )
        if arrived.method != "POST":
            raise UnknownOperation(
                f"{arrived.method} is not accepted here; AWS JSON and query requests are POSTed."
            )
        if protocol == "query":
            action, result = handle_query(arrived)
            return render.query_response(action, result, request_id, namespace=sts.NAMESPACE)
        if not target:
            raise UnknownOperation(
                "The request names no operation: send an X-Amz-Target header (AWS JSON 1.1) or "
                "a form-encoded body with an Action (query protocol)."
            )
        return render.json_response(handle_cognito_identity(arrived, target, kind))
    except AwsError as error:
        failure = error
    except DatabaseError:
        logger.exception("database error on %s", arrived.raw_path)
        failure = InternalError("The service could not reach its database; try again shortly.")
    except Exception:
        logger.exception("unexpected error on %s", arrived.raw_path)
        failure = InternalError("The service failed to handle the request; it has been logged.")
    if protocol == "query":
        return render.query_error(failure, request_id, service="sts", namespace=sts.NAMESPACE)
    return render.cognito_identity_error(failure)
