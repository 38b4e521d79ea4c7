"""The RPC protocols at `/aws` (reference §1.1). Requests with an
`X-Amz-Target` header are AWS JSON 1.1 (Cognito Identity); form-encoded bodies with an
`Action` are the query protocol (STS, then IAM). The handlers are the ones registered in
`aws.registry`. Every answer, error or not, is in the protocol's shape; a real fault is
logged and answered with InternalErrorException (500)."""

from urllib.parse import parse_qsl

from django.conf import settings

from aws import query as query_params
from aws import registry, render, shapes
from aws.errors import (
    InvalidParameter,
    RequestTooLarge,
    SerializationFailed,
    UnknownOperation,
    failure_of,
)
from aws.registry import Service
from aws.render import ApiResponse
from aws.sigv4 import ArrivedRequest

TARGET_PREFIX = "AWSCognitoIdentityService."
JSON_TYPES = {"application/x-amz-json-1.1", "application/x-amz-json-1.0", "application/json"}
FORM_TYPE = "application/x-www-form-urlencoded"
JSON_SERVICE = "cognito-identity"
# The query services, in the order an Action is looked up (STS first, as for a client that
# sends no Version).
QUERY_SERVICES = ("sts", "iam")


# --- AWS JSON 1.1: Cognito Identity -----------------------------------------------------------
def handle_cognito_identity(arrived: ArrivedRequest, target: str, kind: str) -> dict:
    name = target.removeprefix(TARGET_PREFIX)
    operation = shapes.operation_model(JSON_SERVICE, name)
    service = registry.lookup(JSON_SERVICE)
    handler = service.handlers.get(name) if service else None
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
    params = shapes.load_json(arrived.body or b"{}")
    if not isinstance(params, dict):
        raise SerializationFailed("The request body must be a JSON object.")
    caller = None
    if operation.auth_type != "none":
        assert service is not None
        caller = service.authenticate(arrived, service=JSON_SERVICE)
    shapes.validate(operation.input_shape, params)
    return handler(caller, params)


# --- Query protocol: STS and IAM ---------------------------------------------------------------
def query_services() -> list[Service]:
    return [service for name in QUERY_SERVICES if (service := registry.lookup(name))]


def query_service(form: dict[str, str]) -> Service:
    """The query service an Action belongs to."""
    action = form.get("Action", "")
    services = query_services()
    for service in services:
        if action in service.handlers:
            return service
    served = " and ".join(
        f"the {service.name.upper()} actions {', '.join(sorted(service.handlers))}"
        for service in services
    )
    raise UnknownOperation(
        f"Could not find operation {action or '(no Action)'} for version "
        f"{form.get('Version', '(none)')}. This endpoint serves {served}."
    )


def read_form(arrived: ArrivedRequest) -> dict[str, str]:
    try:
        return dict(parse_qsl(arrived.body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise SerializationFailed("The form-encoded request body is not valid UTF-8.") from None


def handle_query(arrived: ArrivedRequest, form: dict[str, str], service: Service) -> dict:
    action = form["Action"]
    operation = shapes.operation_model(service.name, action)
    assert operation is not None
    version = form.get("Version")
    if version is not None and version != service.version:
        raise InvalidParameter(
            f"Version {version} is not supported for {action}; use {service.version}."
        )
    caller = None
    if operation.auth_type != "none":
        caller = service.authenticate(arrived, service=service.name)
    params = query_params.parse(operation.input_shape, form)
    shapes.validate(operation.input_shape, params)
    return service.handlers[action](caller, params)


def respond(arrived: ArrivedRequest, request_id: str, *, oversize: bool = False) -> ApiResponse:
    """Answer a request to the RPC endpoint, in the shape of the protocol it was sent in."""
    target = arrived.headers.get("x-amz-target")
    kind = arrived.headers.get("content-type", "").split(";")[0].strip().lower()
    protocol = "query" if not target and kind == FORM_TYPE else "json"
    service: Service | None = None
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
            form = read_form(arrived)
            service = query_service(form)
            result = handle_query(arrived, form, service)
            assert service.namespace is not None
            return render.query_response(
                form["Action"], result, request_id, namespace=service.namespace
            )
        if not target:
            raise UnknownOperation(
                "The request names no operation: send an X-Amz-Target header (AWS JSON 1.1) or "
                "a form-encoded body with an Action (query protocol)."
            )
        return render.json_response(handle_cognito_identity(arrived, target, kind))
    except Exception as error:
        failure = failure_of(error, arrived.raw_path)
    if protocol == "query":
        service = service or registry.lookup(QUERY_SERVICES[0])
        assert service is not None and service.namespace is not None
        return render.query_error(
            failure, request_id, service=service.name, namespace=service.namespace
        )
    return render.cognito_identity_error(failure)
