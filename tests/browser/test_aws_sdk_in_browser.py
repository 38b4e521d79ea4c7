"""An app written for AWS, on a page of another origin: the AWS SDK for JavaScript v2 and
amazon-cognito-js's Sync Manager (from npm, pinned) in Chromium, pointed at Cognate. This
checks CORS, SigV4 signed in the browser, and the Sync semantics the Sync Manager relies on."""

from pathlib import Path

import pytest

from tests.browser.app import open_app, session
from tests.browser.conftest import other_origin

ROOT = Path(__file__).resolve().parents[2]
PAGE = b"""<!doctype html><meta charset="utf-8"><title>An AWS app</title>
<script src="/aws-sdk.min.js"></script><script src="/amazon-cognito.min.js"></script>"""

SYNC = (ROOT / "tests/js/sync_manager.browser.js").read_text()


@pytest.fixture(scope="module")
def origin():
    """A page on another origin with the SDKs on it."""
    with other_origin(
        {
            "/": ("text/html", PAGE),
            "/aws-sdk.min.js": (
                "text/javascript",
                ROOT / "node_modules/aws-sdk/dist/aws-sdk.min.js",
            ),
            "/amazon-cognito.min.js": (
                "text/javascript",
                ROOT / "node_modules/amazon-cognito-js/dist/amazon-cognito.min.js",
            ),
        }
    ) as url:
        yield url


def test_the_sync_manager_on_another_origin_syncs_between_two_browsers(site, contexts, origin):
    pool_id = session(open_app(contexts(), site))["identityPoolId"]
    endpoint = f"{site.url}/aws"
    first = contexts().new_page()
    first.goto(origin + "/")
    written = first.evaluate(SYNC, [endpoint, pool_id, None, "theme", "dark"])
    assert written["identityId"].startswith("us-east-1:") and written["value"] == "dark"

    second = contexts().new_page()
    second.goto(origin + "/")
    seen = second.evaluate(SYNC, [endpoint, pool_id, written["identityId"], "theme", None])
    assert seen == {"identityId": written["identityId"], "value": "dark"}
