"""The browser client in Chromium (Playwright, Debian's Chromium), against a live server:

1. live update: a write in context A (`dataset.put`) until it is in context B's local store and
   B's app has been told (its `change` event), over 100 writes; p50/p99;
2. offline first render: the demo app reloaded with the network off (served by its service
   worker) until it is usable (notes listed, handlers bound: `data-ready`), over 20 reloads.

    DATABASE_URL=postgres://... REDIS_URL=redis://... python bench/browser.py
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from playwright.sync_api import sync_playwright

from tests.browser.conftest import CHROMIUM, FLAGS
from tests.support.servers import cognate

LISTEN = """(count) => {
  window.arrivals = {};
  const ds = window.cognate.dataset("bench");
  ds.subscribe((change) => {
    if (change.source !== "remote") return;
    const at = performance.timeOrigin + performance.now();
    for (const key of change.keys) if (!(key in window.arrivals)) window.arrivals[key] = at;
  });
  return true;
}"""

WRITE = """async (key) => {
  const at = performance.timeOrigin + performance.now();
  await window.cognate.dataset("bench").put(key, String(at));
  return at;
}"""


def quantiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")  # never beyond the max
    return cuts[49], cuts[98]


def live_updates(browser, url: str, writes: int, gap: float) -> list[float]:
    a_context = browser.new_context()
    a = a_context.new_page()
    a.goto(url)
    a.wait_for_selector("body[data-ready=true]")
    b_context = browser.new_context()
    b_context.add_cookies(a_context.cookies())
    b = b_context.new_page()
    b.goto(url)
    b.wait_for_selector("body[data-ready=true]")
    for page in (a, b):
        page.wait_for_function("() => window.cognate.status.state === 'synced'")
    assert a.evaluate("window.cognate.identityId") == b.evaluate("window.cognate.identityId")
    b.evaluate(LISTEN, writes)
    b.evaluate("window.cognate.dataset('bench')")
    latencies = []
    for number in range(writes):
        key = f"k{number}"
        started = a.evaluate(WRITE, key)
        b.wait_for_function("(key) => key in window.arrivals", arg=key, timeout=10_000)
        arrived = b.evaluate("(key) => window.arrivals[key]", key)
        latencies.append(arrived - started)
        time.sleep(gap)
    a_context.close()
    b_context.close()
    return latencies


def offline_renders(browser, url: str, reloads: int) -> list[float]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    for number in range(20):  # some notes to list
        page.evaluate(
            "(n) => window.cognate.dataset('notes').put('note-' + n, "
            "JSON.stringify({title: 'Note ' + n, body: 'text', updated: Date.now()}))",
            number,
        )
    page.wait_for_function("() => window.cognate.status.pending === 0")
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.evaluate("!!navigator.serviceWorker.controller"), "no service worker"
    context.set_offline(True)
    times = []
    for _ in range(reloads):
        page.reload()
        page.wait_for_selector("body[data-ready=true]")
        assert page.locator("#notes li").count() == 20
        times.append(float(page.get_attribute("body", "data-ready-at") or "nan"))
    context.close()
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.15, help="seconds between writes")
    parser.add_argument("--reloads", type=int, default=20)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    print(
        f"# database {os.environ.get('DATABASE_URL', 'sqlite').split('@')[-1]}, "
        f"Redis {'yes' if os.environ.get('REDIS_URL') else 'no (in-memory layer)'}, "
        f"{args.processes} server process(es)"
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        cognate(
            Path(tmp),
            label="browserbench",
            processes=args.processes,
            COGNATE_GUEST_RATE_LIMIT="1000",
        ) as server,
        sync_playwright() as playwright,
    ):
        server.manage("ensure_demo_pool")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        latencies = live_updates(browser, server.url + "/", args.writes, args.gap)
        p50, p99 = quantiles(latencies)
        print(
            f"live update A -> B   writes {len(latencies)}   p50 {p50:6.1f} ms   "
            f"p99 {p99:6.1f} ms   max {max(latencies):6.1f} ms"
        )
        renders = offline_renders(browser, server.url + "/", args.reloads)
        p50, p99 = quantiles(renders)
        print(
            f"offline first render   reloads {len(renders)}   p50 {p50:6.1f} ms   "
            f"p99 {p99:6.1f} ms   max {max(renders):6.1f} ms"
        )
        browser.close()


if __name__ == "__main__":
    main()
