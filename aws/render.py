"""Responses and errors in each protocol's shape (reference §1.3-1.6)."""

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

from aws.errors import AuthFailure, AwsError, TooManyRequests
from aws.shapes import service_model

AMZ_JSON = "application/x-amz-json-1.1"
REST_JSON = "application/json"


@dataclass
class ApiResponse:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def epoch(moment: datetime | float) -> float:
    """Timestamps travel as epoch seconds (JS v3 refuses ISO strings, reference §1.3)."""
    value = moment.timestamp() if isinstance(moment, datetime) else moment
    return round(value, 3)


def _header_safe(text: str) -> str:
    return " ".join(text.encode("ascii", "replace").decode("ascii").split())[:1000]


def json_response(payload: dict, *, content_type: str = AMZ_JSON) -> ApiResponse:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return ApiResponse(200, content_type, body)


def json_error(error: AwsError, *, status: int, content_type: str = AMZ_JSON) -> ApiResponse:
    """The JSON error shape botocore, JS v2 and JS v3 all read: `__type` in the body and the
    `x-amzn-ErrorType` header."""
    body = json.dumps({"__type": error.code, "message": error.message}, ensure_ascii=False)
    headers = {
        "x-amzn-ErrorType": f"{error.code}:",
        "x-amzn-ErrorMessage": _header_safe(error.message),
    }
    return ApiResponse(status, content_type, body.encode(), _retry_after(error, headers))


def _retry_after(error: AwsError, headers: dict[str, str]) -> dict[str, str]:
    if isinstance(error, TooManyRequests) and error.retry_after:
        headers["Retry-After"] = str(error.retry_after)
    return headers


def cognito_identity_error(error: AwsError) -> ApiResponse:
    """Cognito Identity answers client errors with 400 (reference §1.6), except those that
    name their own status (TooManyRequests: 429)."""
    return json_error(error, status=error.status or 400)


def rest_json_error(error: AwsError, service: str) -> ApiResponse:
    """REST-JSON errors take the status the service model gives the code."""
    status = error.status or _model_status(service, error.code)
    if status is None:
        status = 403 if isinstance(error, AuthFailure) else 400
    return json_error(error, status=status, content_type=REST_JSON)


def _model_status(service: str, code: str) -> int | None:
    for shape in service_model(service).error_shapes:
        if shape.error_code == code:
            return shape.metadata.get("error", {}).get("httpStatusCode")
    return None


# --- Query protocol (STS, IAM): XML -----------------------------------------------------------
def _xml_value(parent: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for name, item in value.items():
            if item is not None:
                _xml_value(ET.SubElement(parent, name), item)
    elif isinstance(value, list):
        for item in value:
            _xml_value(ET.SubElement(parent, "member"), item)
    elif isinstance(value, bool):
        parent.text = "true" if value else "false"
    elif isinstance(value, datetime):
        parent.text = value.strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        parent.text = str(value)


def query_response(action: str, result: dict, request_id: str, *, namespace: str):
    root = ET.Element(f"{action}Response", xmlns=namespace)
    _xml_value(ET.SubElement(root, f"{action}Result"), result)
    metadata = ET.SubElement(root, "ResponseMetadata")
    ET.SubElement(metadata, "RequestId").text = request_id
    return ApiResponse(200, "text/xml", ET.tostring(root, encoding="utf-8"))


def query_error(error: AwsError, request_id: str, *, service: str, namespace: str):
    code = error.query_code or error.code
    status = error.status
    if status is None and isinstance(error, AuthFailure):
        status = error.query_status
    if status is None:
        status = _model_status(service, code) or 400
    root = ET.Element("ErrorResponse", xmlns=namespace)
    detail = ET.SubElement(root, "Error")
    ET.SubElement(detail, "Type").text = "Receiver" if status >= 500 else "Sender"
    ET.SubElement(detail, "Code").text = code
    ET.SubElement(detail, "Message").text = error.message
    ET.SubElement(root, "RequestId").text = request_id
    return ApiResponse(
        status, "text/xml", ET.tostring(root, encoding="utf-8"), _retry_after(error, {})
    )
