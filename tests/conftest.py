"""Shared fixtures: a live Cognate server (its real ASGI server, its own fresh database, the
Redis of REDIS_URL when set), operator keys made with its management commands, and boto3
clients pointed at it.

In CI (CI=true) a test that needs PostgreSQL or Redis fails when they are missing, and any
skipped test fails the run; elsewhere such tests skip with the reason."""

import contextlib
import os
import re

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from tests.support import servers

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REGION = "us-east-1"


def database_is_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def require(condition: bool, reason: str) -> None:
    """Skip (or, in CI, fail) when a real service the test needs is missing."""
    if condition:
        return
    if CI:
        pytest.fail(f"{reason} (CI=true: missing services fail the run)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _fresh_configuration():
    """Each test's database is rolled back, so the configuration this process keeps in memory
    (pools, roles, key pool lists) must be forgotten with it."""
    from identity import selectors
    from identity.providers import oidc
    from syncstore import selectors as sync_selectors

    selectors._config.forget()
    sync_selectors.sync_config_forget()
    oidc.issuers_forget()  # a later test's issuer may get an earlier one's port
    yield
    selectors._config.forget()
    sync_selectors.sync_config_forget()
    oidc.issuers_forget()


@pytest.fixture(autouse=True)
def _needed_services(request):
    if request.node.get_closest_marker("postgres"):
        require(database_is_postgres(), "needs PostgreSQL: set DATABASE_URL=postgres://...")
    if request.node.get_closest_marker("redis"):
        require(bool(os.environ.get("REDIS_URL")), "needs Redis: set REDIS_URL=redis://...")


_skipped: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    no_tests = exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED
    if no_tests or (CI and _skipped and exitstatus == pytest.ExitCode.OK):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if CI and _skipped:
        terminalreporter.write_line(
            f"CI=true: {len(_skipped)} skipped tests fail the run: {', '.join(_skipped[:5])}",
            red=True,
        )


# --- The live server --------------------------------------------------------------------------
@pytest.fixture(scope="session")
def live(tmp_path_factory):
    """A running Cognate: daphne serving config.asgi on a fresh database."""
    with servers.cognate(
        tmp_path_factory.mktemp("live"), COGNATE_ALLOW_HTTP_ISSUERS="true"
    ) as server:
        yield server


_KEY = re.compile(r"AWS_ACCESS_KEY_ID=(\S+)\s+AWS_SECRET_ACCESS_KEY=(\S+)")


def make_operator(live, username: str, *, superuser: bool = True, pools=()) -> dict:
    """A staff user with an access key, made with the server's own management commands."""
    if superuser:
        live.manage(
            "createsuperuser",
            "--noinput",
            "--username",
            username,
            "--email",
            f"{username}@example.com",
        )
    else:
        live.manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import User; "
            f"User.objects.create_user({username!r}, is_staff=True)",
        )
    args = ["create_access_key", username]
    for pool in pools:
        args += ["--pool", pool]
    key_id, secret = _KEY.search(live.manage(*args).stdout).groups()
    return {"aws_access_key_id": key_id, "aws_secret_access_key": secret}


@pytest.fixture(scope="session")
def operator_keys(live):
    return make_operator(live, "operator")


def client(live, service: str, credentials: dict | None = None, **config):
    """A boto3 client of `service` pointed at the live server. Without credentials it sends
    unsigned requests (as browsers do for GetId and friends)."""
    settings = Config(retries={"total_max_attempts": 1}, **config)
    if credentials is None:
        settings = settings.merge(Config(signature_version=UNSIGNED))
        credentials = {}
    return boto3.client(
        service, endpoint_url=live.endpoint, region_name=REGION, config=settings, **credentials
    )


@pytest.fixture(scope="session")
def ops(live, operator_keys):
    """cognito-identity signed with the operator's key."""
    return client(live, "cognito-identity", operator_keys)


@pytest.fixture(scope="session")
def anon(live):
    """cognito-identity without credentials: the browser's view."""
    return client(live, "cognito-identity")


@pytest.fixture
def guest_pool(ops):
    """A fresh pool that allows guests and the classic flow; deleted afterwards."""
    pool = ops.create_identity_pool(
        IdentityPoolName="guests", AllowUnauthenticatedIdentities=True, AllowClassicFlow=True
    )
    yield pool
    with contextlib.suppress(ops.exceptions.ResourceNotFoundException):
        ops.delete_identity_pool(IdentityPoolId=pool["IdentityPoolId"])


def temporary_credentials(creds: dict) -> dict:
    """boto3 client keyword arguments from a Cognito Credentials structure."""
    return {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds.get("SecretKey") or creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }
