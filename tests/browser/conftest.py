"""Playwright driving Debian's Chromium against a live Cognate serving the demo app. In CI a
missing Chromium fails the run; elsewhere these tests skip with the reason."""

import contextlib
import os
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
