"""An app written for AWS, on a page of another origin: the AWS SDK for JavaScript v2 and
amazon-cognito-js's Sync Manager (from npm, pinned) in Chromium, pointed at Cognate. This
checks CORS, SigV4 signed in the browser, and the Sync semantics the Sync Manager relies on."""

import http.server
import threading
from pathlib import Path

import pytest

from tests.browser.app import open_app, session
from tests.support import servers

ROOT = Path(__file__).resolve().parents[2]
PAGE = b"""<!doctype html><meta charset="utf-8"><title>An AWS app</title>
<script src="/aws-sdk.min.js"></script><script src="/amazon-cognito.min.js"></script>"""

SYNC = (ROOT / "tests/js/sync_manager.browser.js").read_text()


class _Files(http.server.SimpleHTTPRequestHandler):
    files = {
        "/": ("text/html", PAGE),
        "/aws-sdk.min.js": ROOT / "node_modules/aws-sdk/dist/aws-sdk.min.js",
        "/amazon-cognito.min.js": ROOT
        / "node_modules/amazon-cognito-js/dist/amazon-cognito.min.js",
    }

    def do_GET(self):
        found = self.files.get(self.path)
        if found is None:
            self.send_error(404)
            return
        kind, body = found if isinstance(found, tuple) else ("text/javascript", found.read_bytes())
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def other_origin():
    """A page on another origin (another port) with the SDKs on it."""
    missing = [p for p in _Files.files.values() if isinstance(p, Path) and not p.exists()]
    assert not missing, f"run npm ci first: {missing}"
    port = servers.free_port()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    httpd.shutdown()
    httpd.server_close()


def test_the_sync_manager_on_another_origin_syncs_between_two_browsers(
    site, contexts, other_origin
):
    pool_id = session(open_app(contexts(), site))["identityPoolId"]
    endpoint = f"{site.url}/aws"
    first = contexts().new_page()
    first.goto(other_origin + "/")
    written = first.evaluate(SYNC, [endpoint, pool_id, None, "theme", "dark"])
    assert written["identityId"].startswith("us-east-1:") and written["value"] == "dark"

    second = contexts().new_page()
    second.goto(other_origin + "/")
    seen = second.evaluate(SYNC, [endpoint, pool_id, written["identityId"], "theme", None])
    assert seen == {"identityId": written["identityId"], "value": "dark"}
