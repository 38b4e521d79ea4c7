"""The AWS SDK for JavaScript v3, run by node, syncs against the live server: routing (v3
posts to `<endpoint>/`), SigV4 from JavaScript and epoch timestamps."""

import json
import shutil
import subprocess

import pytest

from tests.conftest import require
from tests.support.servers import ROOT


@pytest.fixture(scope="session")
def node_modules():
    require(shutil.which("node") is not None, "needs node (Node.js 20)")
    installed = (ROOT / "node_modules" / "@aws-sdk" / "client-cognito-sync").is_dir()
    require(installed, "needs the JavaScript packages: run `npm ci`")
    return ROOT / "node_modules"


def test_js_v3_sync_round_trip(live, guest_pool, node_modules):
    done = subprocess.run(
        [
            "node",
            str(ROOT / "tests" / "js" / "sync_v3.mjs"),
            live.endpoint,
            guest_pool["IdentityPoolId"],
            "from-js",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["firstExists"] is False and report["firstCount"] == 0
    assert report["updated"] == [["greeting", "hello from v3", 1], ["never-there", None, 1]]
    assert report["datasetSyncCount"] == 1
    greeting = next(r for r in report["records"] if r["key"] == "greeting")
    assert greeting["modifiedIsDate"] is True
    assert greeting["device"] == "2026-11-26T08:00:00.123Z"
    assert report["datasetNames"] == ["from-js"]
    assert report["datasetCreatedIsDate"] is True


def test_amazon_cognito_js_sync_manager_round_trip_with_a_conflict(
    live, guest_pool, node_modules, ops_sync
):
    """The Sync Manager of amazon-cognito-js 1.1.0 on the AWS SDK for JavaScript v2: enhanced
    flow credentials, synchronize, a conflict resolved with the local value."""
    require((node_modules / "amazon-cognito-js").is_dir(), "needs amazon-cognito-js: run `npm ci`")
    done = subprocess.run(
        [
            "node",
            str(ROOT / "tests" / "js" / "sync_manager.cjs"),
            live.endpoint,
            guest_pool["IdentityPoolId"],
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["events"]["a"][:2] == [["success", 0], ["success", 0]]
    conflict = report["events"]["b"][0]
    assert conflict == ["conflict", [["score", "11", "20"]]]
    assert report["events"]["b"][-1][0] == "success"
    assert report["seenByA"] == "20"
    server = ops_sync.list_records(
        IdentityPoolId=guest_pool["IdentityPoolId"],
        IdentityId=report["identityId"],
        DatasetName="game",
    )
    assert server["DatasetSyncCount"] == 3
    assert {(r["Key"], r.get("Value"), r["SyncCount"]) for r in server["Records"]} == {
        ("gone", None, 1),
        ("score", "20", 3),
    }
