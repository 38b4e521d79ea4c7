"""The new-guest limits on live servers: GetId without Logins is refused with 429
TooManyRequestsException (and Retry-After) once a client address or a pool has had its
share, while other addresses go on; logins are not counted; X-Forwarded-For counts only
when COGNATE_TRUSTED_PROXY_HOPS trusts it; the browser bootstrap draws on the same budget;
with Redis, server processes share the counts.

Windows here are 1,000,000 seconds long (fixed windows end every 11.6 days), so no test
straddles two of them. Each test counts from source addresses of its own on 127/8."""

import http.client
import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import REGION, client, make_operator
from tests.support import servers

WINDOW = "1000000"
DEMO_POOL = "us-east-1:dec0de00-0000-4000-8000-000000000001"


def limits(*, burst: int, rate: int, pool: int, **extra: str) -> dict[str, str]:
    return {
        "COGNATE_GUEST_BURST_LIMIT": str(burst),
        "COGNATE_GUEST_BURST_WINDOW": WINDOW,
        "COGNATE_GUEST_RATE_LIMIT": str(rate),
        "COGNATE_GUEST_RATE_WINDOW": WINDOW,
        "COGNATE_GUEST_POOL_LIMIT": str(pool),
        "COGNATE_GUEST_POOL_WINDOW": WINDOW,
        **extra,
    }


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """Three new guests per address; the hourly and pool limits out of the way; no proxy."""
    with servers.cognate(
        tmp_path_factory.mktemp("limited"), label="limited", **limits(burst=3, rate=1000, pool=1000)
    ) as server:
        yield server


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """Behind one trusted proxy: two new guests per address (the long window), three per
    pool; the demo pool made for the browser bootstrap."""
    with servers.cognate(
        tmp_path_factory.mktemp("proxied"),
        label="proxied",
        **limits(burst=1000, rate=2, pool=3, COGNATE_TRUSTED_PROXY_HOPS="1"),
    ) as server:
        server.manage("ensure_demo_pool")
        yield server


@pytest.fixture(scope="module")
def limited_ops(limited):
    return client(limited, "cognito-identity", make_operator(limited, "operator"))


@pytest.fixture(scope="module")
def proxied_ops(proxied):
    return client(proxied, "cognito-identity", make_operator(proxied, "operator"))


def new_pool(ops, name="guests", **extra) -> str:
    return ops.create_identity_pool(
        IdentityPoolName=name, AllowUnauthenticatedIdentities=True, **extra
    )["IdentityPoolId"]


def from_address(made, address: str):
    """A boto3 client whose connections leave from `address`: botocore has no setting for
    it, so its urllib3 pool manager gets one."""
    made._endpoint.http_session._manager.connection_pool_kw["source_address"] = (address, 0)
    return made


def guest_client(server, address: str):
    return from_address(client(server, "cognito-identity"), address)


def get_id(url: str, pool_id: str, *, source: str, forwarded_for: str | None = None):
    """An unsigned GetId to the server at `url`, over a plain connection from `source`:
    (status, body, headers)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(
        parts.hostname, parts.port, source_address=(source, 0), timeout=10
    )
    headers = {
        "X-Amz-Target": "AWSCognitoIdentityService.GetId",
        "Content-Type": "application/x-amz-json-1.1",
    }
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    try:
        connection.request("POST", "/aws", json.dumps({"IdentityPoolId": pool_id}), headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read()), response.headers
    finally:
        connection.close()


def refused(excinfo) -> tuple[str, int, str, str]:
    """(code, status, Retry-After, message) of a refused boto3 call."""
    response = excinfo.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["ResponseMetadata"]["HTTPHeaders"].get("retry-after", ""),
        response["Error"]["Message"],
    )


# --- One address, one pool ---------------------------------------------------------------------
def test_an_address_over_its_limit_is_refused_while_another_still_gets_identities(
    limited, limited_ops
):
    pool_id = new_pool(limited_ops)
    flooding = guest_client(limited, "127.0.1.1")
    made = {flooding.get_id(IdentityPoolId=pool_id)["IdentityId"] for _ in range(3)}
    assert len(made) == 3
    with pytest.raises(ClientError) as excinfo:
        flooding.get_id(IdentityPoolId=pool_id)
    code, status, retry_after, message = refused(excinfo)
    assert (code, status) == ("TooManyRequestsException", 429)
    assert 0 < int(retry_after) <= int(WINDOW) + 1
    assert "Too many new guests from this address (3 per 1000000 seconds)" in message
    assert f"try again in {retry_after} seconds" in message
    assert "reuse it" in message

    other = guest_client(limited, "127.0.0.2")
    assert other.get_id(IdentityPoolId=pool_id)["IdentityId"] not in made
    # The refused address can still use the guests it has.
    got = flooding.get_credentials_for_identity(IdentityId=sorted(made)[0])
    assert got["Credentials"]["SessionToken"]


def test_boto3_retries_the_429_then_raises_too_many_requests(limited, limited_ops):
    pool_id = new_pool(limited_ops)
    retrying = from_address(
        boto3.client(
            "cognito-identity",
            endpoint_url=limited.endpoint,
            region_name=REGION,
            config=Config(
                signature_version=UNSIGNED, retries={"mode": "legacy", "total_max_attempts": 2}
            ),
        ),
        "127.0.1.2",
    )
    for _ in range(3):
        retrying.get_id(IdentityPoolId=pool_id)
    with pytest.raises(retrying.exceptions.TooManyRequestsException) as excinfo:
        retrying.get_id(IdentityPoolId=pool_id)
    assert excinfo.value.response["ResponseMetadata"]["RetryAttempts"] == 1


def test_get_id_with_logins_is_not_counted(limited, limited_ops):
    ops = limited_ops
    pool_id = new_pool(ops, "developer", DeveloperProviderName="login.limits")
    token = ops.get_open_id_token_for_developer_identity(
        IdentityPoolId=pool_id, Logins={"login.limits": "user-1"}
    )
    anon = guest_client(limited, "127.0.1.3")
    logins = {"cognito-identity.amazonaws.com": token["Token"]}
    for _ in range(5):
        assert (
            anon.get_id(IdentityPoolId=pool_id, Logins=logins)["IdentityId"]
            == (token["IdentityId"])
        )
    for _ in range(3):
        anon.get_id(IdentityPoolId=pool_id)
    with pytest.raises(anon.exceptions.TooManyRequestsException):
        anon.get_id(IdentityPoolId=pool_id)
    # Signing in is never refused for the address's guests.
    assert anon.get_id(IdentityPoolId=pool_id, Logins=logins)["IdentityId"] == token["IdentityId"]


def test_calls_at_the_same_time_from_one_address_get_exactly_the_limit(limited, limited_ops):
    pool_id = new_pool(limited_ops)
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(
            pool.map(lambda _: get_id(limited.url, pool_id, source="127.0.1.5")[0], range(100))
        )
    assert sorted(answers) == [200] * 3 + [429] * 97


def test_x_forwarded_for_is_ignored_when_no_proxy_is_trusted(limited, limited_ops):
    pool_id = new_pool(limited_ops)
    answers = [
        get_id(limited.url, pool_id, source="127.0.1.4", forwarded_for=f"198.51.100.{n}")[0]
        for n in range(1, 5)
    ]
    assert answers == [200, 200, 200, 429]


def test_the_long_window_of_an_address(proxied, proxied_ops):
    pool_id = new_pool(proxied_ops)
    first = [get_id(proxied.url, pool_id, source="127.0.2.1")[0] for _ in range(2)]
    status, body, headers = get_id(proxied.url, pool_id, source="127.0.2.1")
    assert (first, status, body["__type"]) == ([200, 200], 429, "TooManyRequestsException")
    assert "from this address (2 per 1000000 seconds)" in body["message"]
    assert int(headers["Retry-After"]) > 0
    assert headers["x-amzn-ErrorType"] == "TooManyRequestsException:"


def test_the_limit_of_a_pool_holds_for_every_address(proxied, proxied_ops):
    ops = proxied_ops
    pool_id, other_pool = new_pool(ops, "crowded"), new_pool(ops, "quiet")
    assert [get_id(proxied.url, pool_id, source="127.0.2.2")[0] for _ in range(2)] == [200, 200]
    assert get_id(proxied.url, pool_id, source="127.0.2.3")[0] == 200
    status, body, headers = get_id(proxied.url, pool_id, source="127.0.2.4")
    assert (status, body["__type"]) == (429, "TooManyRequestsException")
    assert f"in identity pool {pool_id} (3 per 1000000 seconds)" in body["message"]
    assert int(headers["Retry-After"]) > 0
    # Another pool is not refused, for the same address.
    assert get_id(proxied.url, other_pool, source="127.0.2.4")[0] == 200


def test_x_forwarded_for_counts_behind_a_trusted_proxy(proxied, proxied_ops):
    pool_id = new_pool(proxied_ops)
    proxy = "127.0.2.5"
    assert get_id(proxied.url, pool_id, source=proxy, forwarded_for="203.0.113.1")[0] == 200
    # What the client wrote before the proxy's own entry is not trusted.
    spoofed = "192.0.2.99, 203.0.113.1"
    assert get_id(proxied.url, pool_id, source=proxy, forwarded_for=spoofed)[0] == 200
    assert get_id(proxied.url, pool_id, source=proxy, forwarded_for=spoofed)[0] == 429
    assert get_id(proxied.url, pool_id, source=proxy, forwarded_for="203.0.113.2")[0] == 200


def bootstrap(url: str, forwarded_for: str) -> requests.Response:
    """A new browser's first POST /identity/session, through the proxy."""
    browser = requests.Session()
    browser.get(f"{url}/accounts/login/", timeout=10).raise_for_status()
    headers = {"X-CSRFToken": browser.cookies["csrftoken"], "X-Forwarded-For": forwarded_for}
    return browser.post(f"{url}/identity/session", headers=headers, timeout=10)


def test_the_browser_bootstrap_and_get_id_share_an_address_budget(proxied, proxied_ops):
    made = bootstrap(proxied.url, "203.0.113.9")
    assert made.status_code == 200 and made.json()["identityPoolId"] == DEMO_POOL
    pool_id = new_pool(proxied_ops)
    assert get_id(proxied.url, pool_id, source="127.0.2.6", forwarded_for="203.0.113.9")[0] == 200
    again = bootstrap(proxied.url, "203.0.113.9")
    assert again.status_code == 429
    assert again.json()["__type"] == "TooManyRequestsException"
    assert int(again.headers["Retry-After"]) > 0


# --- Several server processes ------------------------------------------------------------------
@pytest.mark.redis
def test_server_processes_share_the_counts_through_redis(tmp_path):
    with servers.cognate(
        tmp_path, processes=2, label="limits-pair", **limits(burst=3, rate=1000, pool=1000)
    ) as pair:
        pool_id = new_pool(client(pair, "cognito-identity", make_operator(pair, "operator")))
        first, second = pair.urls
        source = "127.0.3.1"
        answers = [
            get_id(first, pool_id, source=source)[0],
            get_id(second, pool_id, source=source)[0],
            get_id(first, pool_id, source=source)[0],
            get_id(second, pool_id, source=source)[0],
            get_id(first, pool_id, source=source)[0],
        ]
        assert answers == [200, 200, 200, 429, 429]


# --- The address a request counts against ------------------------------------------------------
@pytest.mark.parametrize(
    ("hops", "peer", "forwarded", "expected"),
    [
        (0, "192.0.2.1", "198.51.100.1", "192.0.2.1"),
        (1, "10.0.0.5", "198.51.100.1", "198.51.100.1"),
        (1, "10.0.0.5", "192.0.2.66, 198.51.100.1", "198.51.100.1"),
        (2, "10.0.0.5", "192.0.2.66, 198.51.100.1, 10.0.0.9", "198.51.100.1"),
        (2, "10.0.0.5", "198.51.100.1", "198.51.100.1"),
        (1, "10.0.0.5", None, "10.0.0.5"),
        (1, "10.0.0.5", "198.51.100.1:4711", "198.51.100.1"),
        (1, "10.0.0.5", "unknown", "10.0.0.5"),
        (1, "10.0.0.5", "[2001:db8:1:2:3::4]:4711", "2001:db8:1:2::/64"),
        (0, "2001:db8:1:2:aaaa::1", None, "2001:db8:1:2::/64"),
        (0, "::ffff:192.0.2.1", None, "192.0.2.1"),
    ],
)
def test_client_address(settings, hops, peer, forwarded, expected):
    from identity.ratelimit import client_address

    settings.COGNATE_TRUSTED_PROXY_HOPS = hops
    assert client_address(peer, forwarded) == expected


def test_wrong_guest_limits_are_caught_at_start_up(settings):
    from identity.checks import cognate_settings

    assert cognate_settings(None) == []
    settings.COGNATE_GUEST_BURST_WINDOW = 0
    settings.COGNATE_GUEST_POOL_LIMIT = -1
    settings.COGNATE_TRUSTED_PROXY_HOPS = -1
    assert [problem.id for problem in cognate_settings(None)] == [
        "cognate.E005",
        "cognate.E005",
        "cognate.E006",
    ]


@pytest.mark.redis
def test_windows_are_counted_in_order_and_a_refusal_takes_nothing_from_the_next(settings):
    """On Redis all of a guest's windows are counted in one script: in order, stopping at
    the first over its limit, so an address over its limit spends none of its pool's."""
    from django.core.cache import caches

    from identity import ratelimit

    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.SharedRedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": f"cognate-hits-test-{uuid.uuid4().hex}",
        }
    }
    address, pool = f"addr-{uuid.uuid4().hex}", f"pool-{uuid.uuid4().hex}"
    windows = [("t-address", address, 2, 3600), ("t-pool", pool, 100, 3600)]
    assert ratelimit.hit_each(windows) == (None, 0)
    assert ratelimit.hit_each(windows) == (None, 0)
    refused, retry = ratelimit.hit_each(windows)
    assert refused == 0 and 0 < retry <= 3601
    assert ratelimit.hit_each(windows)[0] == 0  # seen spent: refused from memory

    def count(scope, key, window):
        bucket = int(time.time() // window)
        return caches["default"].get(f"rate:{scope}:{key}:{bucket}")

    assert count("t-address", address, 3600) == 3  # the refused one counted once, in Redis
    assert count("t-pool", pool, 3600) == 2  # nothing from the refused calls
