"""The demo app in Chromium against a live server: guests, offline work, live delivery,
conflicts, tabs, and headers."""

import requests
from playwright.sync_api import expect

from tests.browser.app import (
    TIMEOUT,
    add_note,
    edit_note,
    expect_titles,
    identity,
    open_app,
    ready,
    same_person,
    server_titles,
    state,
    synced,
)

WIPE_INDEXEDDB = """async () => {
  window.cognate.close();
  for (const db of await indexedDB.databases()) {
    await new Promise((done) => {
      const request = indexedDB.deleteDatabase(db.name);
      request.onsuccess = request.onerror = request.onblocked = done;
    });
  }
  return (await indexedDB.databases()).length;
}"""


def test_a_guest_on_first_visit_survives_reloads_and_wiped_storage(site, contexts):
    browser = contexts()
    page = open_app(browser, site)
    guest = identity(page)
    assert guest.startswith("us-east-1:")
    expect(page.locator("#who")).to_contain_text("Guest")
    add_note(page, "kept by the server")
    synced(page)

    page.reload()
    ready(page)
    assert identity(page) == guest

    assert page.evaluate(WIPE_INDEXEDDB) == 0
    page.reload()
    ready(page)
    assert identity(page) == guest  # the cookie brought the same guest back
    expect_titles(page, "kept by the server")  # and its notes came back from the server

    other = open_app(contexts(), site)
    assert identity(other) != guest
    assert page.errors == [] and other.errors == []  # type: ignore[attr-defined]


def test_offline_edits_survive_a_reload_and_reach_the_other_device_live(site, contexts):
    laptop_context = contexts()
    laptop = open_app(laptop_context, site)
    laptop.evaluate("navigator.serviceWorker.ready.then(() => true)")
    add_note(laptop, "written online")
    synced(laptop)
    phone_context = contexts()
    same_person(laptop_context, phone_context)
    phone = open_app(phone_context, site)
    assert identity(phone) == identity(laptop)
    expect_titles(phone, "written online")

    laptop_context.set_offline(True)
    expect(laptop.locator("#network")).to_have_text("offline")
    add_note(laptop, "on the train")
    laptop.reload()  # offline: the service worker serves the app
    ready(laptop)
    expect_titles(laptop, "written online", "on the train")
    add_note(laptop, "still on the train")
    expect(laptop.locator("#sync")).to_have_attribute("data-pending", "2")
    assert server_titles(site, phone) == ["written online"]

    laptop_context.set_offline(False)
    synced(laptop)
    assert server_titles(site, phone) == ["on the train", "still on the train", "written online"]
    # The phone never reloaded: the notes arrived over its socket.
    expect_titles(phone, "written online", "on the train", "still on the train")
    assert laptop.errors == [] and phone.errors == []  # type: ignore[attr-defined]


def test_a_conflict_goes_to_the_newest_edit_and_the_other_value_is_kept(site, contexts):
    a_context = contexts()
    a = open_app(a_context, site)
    key = add_note(a, "original")
    synced(a)
    b_context = contexts()
    same_person(a_context, b_context)
    b = open_app(b_context, site)
    expect_titles(b, "original")

    # B goes offline and edits first; A edits later, online: A's edit is the newest.
    b_context.set_offline(True)
    edit_note(b, key, "older edit on B")
    a.wait_for_timeout(50)
    edit_note(a, key, "newer edit on A")
    synced(a)
    b_context.set_offline(False)
    synced(b)
    expect_titles(b, "newer edit on A")
    expect(b.locator("#conflict-count")).to_have_text("1", timeout=TIMEOUT)
    b.click("#conflicts-pane summary")
    expect(b.locator("#conflicts li pre.version")).to_contain_text(
        ["newer edit on A", "older edit on B"]
    )

    # Now B edits last while offline: B's edit wins on both, A's value is kept on B.
    b_context.set_offline(True)
    edit_note(a, key, "edit on A again")
    synced(a)
    b.wait_for_timeout(50)
    edit_note(b, key, "newest edit on B")
    b_context.set_offline(False)
    synced(b)
    expect_titles(a, "newest edit on B")
    expect(b.locator("#conflict-count")).to_have_text("2", timeout=TIMEOUT)
    expect(b.locator("#conflicts li pre.version").filter(has_text="edit on A again")).to_have_count(
        1
    )
    assert server_titles(site, a) == ["newest edit on B"]


def test_tabs_of_one_browser_share_one_socket(site, contexts):
    context = contexts()
    sockets = []
    context.on("page", lambda page: page.on("websocket", lambda socket: sockets.append(socket)))
    first = open_app(context, site)
    second = open_app(context, site)
    synced(first)
    expect(second.locator("#sync")).to_have_attribute("data-state", "synced", timeout=TIMEOUT)
    add_note(second, "written in the second tab")
    expect_titles(first, "written in the second tab")
    synced(first)
    assert server_titles(site, first) == ["written in the second tab"]
    assert len(sockets) == 1, state(first) + " | " + state(second)

    # The tab holding the socket closes: the other takes over.
    holder = first if first.evaluate("window.cognate.status.leader") else second
    survivor = second if holder is first else first
    holder.close()
    expect(survivor.locator("#sync")).to_have_attribute("data-state", "synced", timeout=TIMEOUT)
    add_note(survivor, "after the handover")
    synced(survivor)
    assert len(sockets) == 2
    assert server_titles(site, survivor) == ["after the handover", "written in the second tab"]


def test_the_app_falls_back_to_http_when_no_socket_opens(site, contexts):
    context = contexts()
    context.route_web_socket("**/ws/sync", lambda socket: socket.close(code=1006))
    page = open_app(context, site)
    expect(page.locator("#sync")).to_have_text("synced (HTTP)", timeout=30_000)
    add_note(page, "over HTTP")
    synced(page)
    assert server_titles(site, page) == ["over HTTP"]
    other_context = contexts()
    same_person(context, other_context)
    other = open_app(other_context, site)
    add_note(other, "from the socket side")
    expect_titles(page, "over HTTP", "from the socket side")  # the next poll brings it


def test_pages_carry_a_content_security_policy(site):
    page = requests.get(f"{site.url}/", timeout=10)
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "csrftoken" in page.cookies
    worker = requests.get(f"{site.url}/sw.js", timeout=10)
    assert worker.headers["Service-Worker-Allowed"] == "/"
    assert "no-cache" in worker.headers["Cache-Control"]
    assert "__VERSION__" not in worker.text and "/static/cognate/client.js" in worker.text
    script = requests.get(f"{site.url}/static/cognate/client.js", timeout=10)
    assert script.status_code == 200 and "javascript" in script.headers["Content-Type"]
