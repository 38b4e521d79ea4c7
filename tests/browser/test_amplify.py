"""An app written for AWS Amplify JS v6 (`aws-amplify`, pinned in package.json and bundled with
esbuild) on a page of another origin, pointed at Cognate with `identityPoolEndpoint`: guest
sessions, their credentials on Cognito Sync through the AWS SDK v3, and the errors Amplify
reports. Amplify adds `cache-control: no-store` to every call, so this also checks that the
CORS preflight allows what Amplify sends."""

import subprocess
import time
from pathlib import Path

import pytest

from tests.browser.conftest import other_origin
from tests.conftest import client

ROOT = Path(__file__).resolve().parents[2]
PAGE = b"""<!doctype html><meta charset="utf-8"><title>An Amplify app</title>
<script type="module" src="/app.js"></script>"""
MISSING_POOL = "us-east-1:00000000-0000-4000-8000-00000000dead"


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    """The Amplify app, bundled from tests/js/amplify.browser.js, on another origin."""
    bundle = tmp_path_factory.mktemp("amplify") / "app.js"
    esbuild = ROOT / "node_modules/.bin/esbuild"
    assert esbuild.exists(), "run npm ci first: esbuild is missing"
    subprocess.run(
        [
            str(esbuild),
            "tests/js/amplify.browser.js",
            "--bundle",
            "--format=esm",
            "--platform=browser",
            "--log-level=warning",
            f"--outfile={bundle}",
        ],
        cwd=ROOT,
        check=True,
    )
    with other_origin({"/": ("text/html", PAGE), "/app.js": ("text/javascript", bundle)}) as url:
        yield url


@pytest.fixture
def app(contexts, origin, live):
    """A fresh browser profile with the Amplify app open; `app.configure(pool_id)` points it
    at the live server."""

    class App:
        def __init__(self):
            self.page = contexts().new_page()
            self.errors: list[str] = []
            self.page.on("pageerror", lambda error: self.errors.append(str(error)))
            self.open()

        def open(self):
            self.page.goto(origin + "/")
            self.page.wait_for_function("window.app !== undefined")

        def configure(self, pool_id: str):
            self.page.evaluate("([e, p]) => app.configure(e, p)", [live.endpoint, pool_id])

        def session(self) -> dict:
            return self.page.evaluate("app.session()")

        def dataset(self, pool_id, name, key=None, value=None) -> dict:
            return self.page.evaluate(
                "([e, p, n, k, v]) => app.dataset(e, p, n, k, v)",
                [live.endpoint, pool_id, name, key, value],
            )

    made = App()
    yield made
    assert made.errors == []


def identities_of(ops, pool_id: str) -> set[str]:
    listed = ops.list_identities(IdentityPoolId=pool_id, MaxResults=60)["Identities"]
    return {identity["IdentityId"] for identity in listed}


def test_a_guest_session_lasts_an_hour_survives_a_reload_and_clearing_starts_anew(
    app, ops, guest_pool
):
    pool_id = guest_pool["IdentityPoolId"]
    app.configure(pool_id)
    first = app.session()
    assert "error" not in first, first
    assert first["identityId"] in identities_of(ops, pool_id)
    assert first["accessKeyId"]
    lifetime = first["expiration"] / 1000 - time.time()
    assert 3500 < lifetime <= 3600, lifetime

    app.page.reload()
    app.page.wait_for_function("window.app !== undefined")
    app.configure(pool_id)
    again = app.session()
    assert again["identityId"] == first["identityId"]  # kept in localStorage, sent again
    assert again["accessKeyId"]

    app.page.evaluate("app.clearCredentials()")
    fresh = app.session()
    assert "error" not in fresh, fresh
    assert fresh["identityId"] != first["identityId"]
    assert identities_of(ops, pool_id) == {first["identityId"], fresh["identityId"]}


def test_amplify_credentials_read_and_write_the_identitys_datasets(
    app, live, operator_keys, guest_pool
):
    pool_id = guest_pool["IdentityPoolId"]
    app.configure(pool_id)
    written = app.dataset(pool_id, "settings", "theme", "dark")
    assert written["records"] == {"theme": "dark"} and written["syncCount"] == 1, written
    changed = app.dataset(pool_id, "settings", "theme", "light")
    assert changed["records"] == {"theme": "light"} and changed["syncCount"] == 2, changed

    # What the server holds, read by an operator with boto3.
    sync = client(live, "cognito-sync", operator_keys)
    held = sync.list_records(
        IdentityPoolId=pool_id, IdentityId=written["identityId"], DatasetName="settings"
    )
    assert [(r["Key"], r["Value"]) for r in held["Records"]] == [("theme", "light")]

    # Another identity's dataset is refused to these credentials, as on AWS.
    other = client(live, "cognito-identity").get_id(IdentityPoolId=pool_id)["IdentityId"]
    refused = app.page.evaluate(
        "([e, p, i]) => app.recordsOf(e, p, i, 'settings')", [live.endpoint, pool_id, other]
    )
    assert refused["error"]["name"] == "NotAuthorizedException", refused
    assert f"/identity/{other}/dataset/settings" in refused["error"]["message"]


def test_a_pool_that_refuses_guests_is_reported_as_not_authorized(app, ops):
    pool_id = ops.create_identity_pool(
        IdentityPoolName="members only", AllowUnauthenticatedIdentities=False
    )["IdentityPoolId"]
    try:
        app.configure(pool_id)
        refused = app.session()
    finally:
        ops.delete_identity_pool(IdentityPoolId=pool_id)
    assert refused == {
        "error": {
            "name": "NotAuthorizedException",
            "message": "Unauthenticated access is not supported for this identity pool.",
        }
    }


def test_server_errors_reach_the_page_with_their_aws_code_and_message(app, live):
    app.configure(MISSING_POOL)
    message = f"IdentityPool '{MISSING_POOL}' not found."
    assert app.session() == {"error": {"name": "ResourceNotFoundException", "message": message}}

    raw = app.page.evaluate("([e, p]) => app.rawGetId(e, p)", [live.endpoint, MISSING_POOL])
    assert raw["status"] == 400
    assert raw["body"] == {"__type": "ResourceNotFoundException", "message": message}
    headers = raw["headers"]
    assert headers["x-amzn-ErrorType"] == "ResourceNotFoundException:"
    assert headers["x-amzn-ErrorMessage"] == message
    assert headers["x-amzn-RequestId"]
    assert headers["Date"] and headers["Date"].endswith(" GMT")
