"""Playwright driving Debian's Chromium against a live Cognate serving the demo app. In CI a
missing Chromium fails the run; elsewhere these tests skip with the reason."""

import contextlib
import http.server
import os
import threading
from pathlib import Path

import pytest

from tests.conftest import require
from tests.support import servers

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium():
    require(Path(CHROMIUM).exists(), f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """Cognate serving the demo app, its site pool made."""
    with servers.cognate(
        tmp_path_factory.mktemp("site"),
        label="site",
        COGNATE_ALLOW_HTTP_ISSUERS="true",
        COGNATE_GUEST_RATE_LIMIT="10000",
    ) as server:
        server.manage("ensure_demo_pool")
        yield server


@pytest.fixture
def contexts(chromium):
    """New browser contexts (each one a separate browser profile), closed after the test."""
    made = []

    def new(**options):
        context = chromium.new_context(**options)
        made.append(context)
        return context

    yield new
    for context in made:
        with contextlib.suppress(Exception):
            context.close()


def _files_handler(files: dict[str, tuple[str, bytes | Path]]):
    class Files(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            found = files.get(self.path.split("?", 1)[0])
            if found is None:
                self.send_error(404)
                return
            kind, body = found
            data = body.read_bytes() if isinstance(body, Path) else body
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Files


@contextlib.contextmanager
def other_origin(files: dict[str, tuple[str, bytes | Path]]):
    """A page server on another origin than Cognate (another port of 127.0.0.1), serving
    `files` (path -> content type and bytes or a file); yields its origin."""
    missing = [body for _, body in files.values() if isinstance(body, Path) and not body.exists()]
    assert not missing, f"run npm ci first: {missing}"
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", servers.free_port()), _files_handler(files)
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
