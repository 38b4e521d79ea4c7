"""Cognito Sync's REST-JSON protocol (reference §1.4): routes, inputs and errors, all read
from botocore's service model, so paths, labels, query members and headers are exactly the
ones the SDKs send. The handlers are the ones registered in `aws.registry`."""

import re
from functools import cache
from urllib.parse import parse_qsl, unquote

from botocore.model import OperationModel, Shape

from aws import registry, render, shapes
from aws.errors import (
    InvalidParameter,
    RequestTooLarge,
    ResourceNotFound,
    UnknownOperation,
    failure_of,
)
from aws.render import ApiResponse
from aws.sigv4 import ArrivedRequest

SERVICE = "cognito-sync"
PREFIX = "/aws"


@cache
def _routes() -> list[tuple[str, re.Pattern, OperationModel]]:
    model = shapes.service_model(SERVICE)
    routes = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        uri = operation.http["requestUri"]
        parts = re.split(r"(\{\w+\})", uri)
        pattern = "".join(
            f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part)
            for part in parts
        )
        routes.append((operation.http["method"], re.compile(f"^{pattern}$"), operation))
    return routes


def route(path: str, method: str) -> tuple[OperationModel, dict[str, str]]:
    """The operation a (still percent-encoded) path and method name, with its path labels."""
    path = re.sub("/+", "/", path)
    allowed = []
    for route_method, pattern, operation in _routes():
        match = pattern.match(path)
        if match:
            if route_method == method:
                return operation, {k: unquote(v) for k, v in match.groupdict().items()}
            allowed.append(route_method)
    if allowed:
        raise UnknownOperation(
            f"{method} is not accepted on {path}; use {' or '.join(sorted(allowed))}.",
            status=405,
        )
    raise ResourceNotFound(f"No Cognito Sync operation lives at {path}.")


def _scalar(shape: Shape, raw: str, name: str):
    if shape.type_name in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            raise InvalidParameter(f"{name} must be a whole number, not '{raw[:40]}'.") from None
    if shape.type_name == "boolean":
        return raw.lower() == "true"
    return raw


def read_input(operation: OperationModel, arrived: ArrivedRequest, labels: dict) -> dict:
    """The operation's input from the path labels, query string, headers and JSON body."""
    shape = operation.input_shape
    if shape is None:
        return {}
    query = dict(parse_qsl(arrived.raw_query, keep_blank_values=True))
    body_members = []
    params: dict = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri":
            params[name] = labels[wire_name]
        elif location == "querystring":
            if wire_name in query:
                params[name] = _scalar(member, query[wire_name], wire_name)
        elif location == "header":
            if wire_name.lower() in arrived.headers:
                params[name] = arrived.headers[wire_name.lower()]
        else:
            body_members.append(name)
    if body_members and arrived.body.strip():
        body = shapes.load_json(arrived.body, error=InvalidParameter)
        if not isinstance(body, dict):
            raise InvalidParameter("The request body must be a JSON object.")
        params.update({name: body[name] for name in body_members if body.get(name) is not None})
    shapes.validate(shape, params, invalid=InvalidParameter, wrong_type=InvalidParameter)
    return params


def respond(arrived: ArrivedRequest, request_id: str, *, oversize: bool = False) -> ApiResponse:
    """Answer a Cognito Sync request in REST-JSON."""
    try:
        if oversize:
            raise RequestTooLarge("The request body is larger than this server accepts.")
        operation, labels = route(arrived.raw_path.removeprefix(PREFIX), arrived.method)
        service = registry.lookup(SERVICE)
        handler = service.handlers.get(operation.name) if service else None
        if service is None or handler is None:
            raise UnknownOperation(
                f"The operation {operation.name} is not supported by this server."
            )
        caller = service.authenticate(arrived, service=SERVICE)
        params = read_input(operation, arrived, labels)
        return render.json_response(handler(caller, params), content_type=render.REST_JSON)
    except Exception as error:
        failure = failure_of(error, arrived.raw_path)
    return render.rest_json_error(failure, SERVICE)
