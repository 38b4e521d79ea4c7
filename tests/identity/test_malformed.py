"""Raw requests that no SDK would send still get a 4xx in the protocol's error shape."""

import json
import urllib.error
import urllib.request

import pytest

TARGET = "AWSCognitoIdentityService."


def post(url, body: bytes, headers: dict, method="POST"):
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def json_error(status, headers, body):
    payload = json.loads(body)
    assert headers["x-amzn-ErrorType"] == payload["__type"] + ":"
    assert headers["x-amzn-RequestId"]
    return status, payload["__type"], payload["message"]


def identity_call(live, operation, body: bytes, content_type="application/x-amz-json-1.1"):
    return post(
        live.endpoint,
        body,
        {"X-Amz-Target": TARGET + operation, "Content-Type": content_type},
    )


def test_invalid_json_is_a_serialization_error(live):
    status, kind, message = json_error(*identity_call(live, "GetId", b'{"IdentityPoolId": '))
    assert (status, kind) == (400, "SerializationException")
    assert "not valid JSON" in message


def test_json_that_is_not_an_object_is_refused(live):
    status, kind, _ = json_error(*identity_call(live, "GetId", b'["a"]'))
    assert (status, kind) == (400, "SerializationException")


def test_unknown_target_is_unknown_operation(live):
    status, kind, message = json_error(*identity_call(live, "StealEverything", b"{}"))
    assert (status, kind) == (400, "UnknownOperationException")
    assert "StealEverything" in message
    status, kind, _ = json_error(
        *post(
            live.endpoint,
            b"{}",
            {
                "X-Amz-Target": "DynamoDB_20120810.ListTables",
                "Content-Type": "application/x-amz-json-1.1",
            },
        )
    )
    assert kind == "UnknownOperationException"


def test_two_megabyte_body_is_too_large(live):
    body = b'{"IdentityPoolId": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    status, kind, message = json_error(*identity_call(live, "GetId", body))
    assert (status, kind) == (413, "RequestEntityTooLargeException")
    assert "bytes" in message


def test_wrong_content_type_is_refused(live):
    status, kind, message = json_error(
        *identity_call(live, "GetId", b"{}", content_type="text/plain")
    )
    assert (status, kind) == (400, "SerializationException")
    assert "application/x-amz-json-1.1" in message


def test_body_without_target_or_action_names_no_operation(live):
    status, kind, message = json_error(
        *post(live.endpoint, b"{}", {"Content-Type": "application/json"})
    )
    assert (status, kind) == (400, "UnknownOperationException")
    assert "X-Amz-Target" in message


def test_get_on_the_rpc_endpoint_is_refused_in_shape(live):
    status, _, body = post(live.endpoint, None, {}, method="GET")
    assert status == 400 and json.loads(body)["__type"] == "UnknownOperationException"


def test_both_endpoint_spellings_answer(live, guest_pool):
    body = json.dumps({"IdentityPoolId": guest_pool["IdentityPoolId"]}).encode()
    for url in (live.endpoint, live.endpoint + "/"):
        status, _, payload = post(
            url,
            body,
            {"X-Amz-Target": TARGET + "GetId", "Content-Type": "application/x-amz-json-1.1"},
        )
        assert status == 200 and json.loads(payload)["IdentityId"]


def test_unknown_path_under_the_prefix_is_not_found_in_shape(live):
    status, _, body = post(f"{live.endpoint}/nothing/here", None, {}, method="GET")
    assert status == 404
    assert json.loads(body)["__type"] == "ResourceNotFoundException"


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe", b"Action=AssumeRoleWithWebIdentity&DurationSeconds=abc&Version=2011-06-15"],
)
def test_broken_query_requests_get_xml_errors(live, body):
    status, headers, payload = post(
        live.endpoint, body, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 400
    assert headers["Content-Type"] == "text/xml"
    assert b"<ErrorResponse" in payload and b"<Code>" in payload


# What each browser client sends (reference §1.8, §1.9): AWS Amplify v6 on Cognito Identity,
# the AWS SDK for JavaScript v3 and v2 (signed Cognito Sync calls).
BROWSER_HEADERS = {
    "amplify": "cache-control,content-type,x-amz-target,x-amz-user-agent,amz-sdk-invocation-id,"
    "amz-sdk-request",
    "js-v3": "amz-sdk-invocation-id,amz-sdk-request,authorization,content-type,"
    "x-amz-content-sha256,x-amz-date,x-amz-security-token,x-amz-target,x-amz-user-agent",
    "js-v2": "authorization,content-type,x-amz-content-sha256,x-amz-date,x-amz-security-token,"
    "x-amz-target,x-amz-user-agent,x-amz-client-context",
}


@pytest.mark.parametrize("sent", BROWSER_HEADERS.values(), ids=BROWSER_HEADERS.keys())
def test_cors_preflight_allows_every_header_the_browser_clients_send(live, sent):
    status, headers, _ = post(
        live.endpoint,
        None,
        {
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": sent,
        },
        method="OPTIONS",
    )
    assert status == 204
    assert headers["access-control-allow-origin"] == "*"
    allowed = {name.strip() for name in headers["access-control-allow-headers"].split(",")}
    assert set(sent.split(",")) <= allowed
    assert {"GET", "POST", "DELETE"} <= {
        method.strip() for method in headers["access-control-allow-methods"].split(",")
    }
    assert int(headers["access-control-max-age"]) >= 3600  # no preflight per call


def test_responses_to_browsers_expose_the_error_headers(live):
    status, headers, _ = post(
        live.endpoint,
        b"{}",
        {
            "X-Amz-Target": TARGET + "GetId",
            "Content-Type": "application/x-amz-json-1.1",
            "Origin": "https://app.example",
        },
    )
    assert status == 400
    assert headers["access-control-allow-origin"] == "*"
    exposed = {name.strip() for name in headers["access-control-expose-headers"].split(",")}
    assert exposed >= {"x-amzn-RequestId", "x-amzn-ErrorType", "x-amzn-ErrorMessage", "Date"}
    assert headers["x-amzn-ErrorType"].startswith("ValidationException")
    assert headers["Date"]


def test_health_reports_database_and_channel_layer(live):
    with urllib.request.urlopen(f"{live.url}/healthz") as response:
        report = json.load(response)
    assert report == {"status": "ok", "database": "ok", "channel_layer": "ok"}
