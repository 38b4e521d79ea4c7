"""The browser client's units: its pure logic under node's test runner, its IndexedDB store
in Chromium."""

import re
import shutil
import subprocess
from pathlib import Path

from tests.conftest import require

JS = Path(__file__).resolve().parents[1] / "js"


def test_client_logic_under_node():
    node = shutil.which("node")
    require(node is not None, "needs node (Node 20)")
    assert node is not None
    run = subprocess.run(
        [node, "--test", str(JS / "logic.test.mjs")], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
    passed = int(re.search(r"# pass (\d+)", run.stdout).group(1))  # type: ignore[union-attr]
    assert passed >= 8 and "# fail 0" in run.stdout


def test_client_store_in_the_browser(site, contexts):
    page = contexts().new_page()
    page.goto(f"{site.url}/static/demo/icon.svg")  # any page of the origin
    results = page.evaluate((JS / "store.browser.js").read_text())
    failed = [r for r in results if not r[1]]
    assert len(results) >= 25 and not failed, failed
