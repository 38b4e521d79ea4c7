"""Driving the demo app as a person would, and reading what the server holds."""

import json
from urllib.parse import quote

import requests
from playwright.sync_api import Page, expect

TIMEOUT = 15_000  # ms for anything the app must do by itself (sync, deliver, render)
# What Chromium logs for each request made while offline (expected, not an error of the app).
OFFLINE = "Failed to load resource: net::ERR_INTERNET_DISCONNECTED"


def open_app(context, site, *, track_errors: bool = True) -> Page:
    page = context.new_page()
    if track_errors:
        page.errors = []  # type: ignore[attr-defined]
        page.on("pageerror", lambda error: page.errors.append(str(error)))  # type: ignore[attr-defined]
        page.on(
            "console",
            lambda message: (
                message.type == "error"
                and not message.text.startswith(OFFLINE)
                and page.errors.append(message.text)
            ),  # type: ignore[attr-defined]
        )
    page.goto(f"{site.url}/")
    ready(page)
    return page


def ready(page: Page) -> None:
    page.wait_for_selector("body[data-ready=true]", timeout=TIMEOUT)


def identity(page: Page) -> str:
    return page.evaluate("window.cognate.identityId")


def session(page: Page) -> dict:
    return page.evaluate("({...window.cognate.session})")


def synced(page: Page) -> None:
    """Wait until the page's client has pushed everything and says so."""
    expect(page.locator("#sync")).to_have_attribute("data-state", "synced", timeout=TIMEOUT)
    expect(page.locator("#sync")).to_have_attribute("data-pending", "0", timeout=TIMEOUT)


def add_note(page: Page, title: str, body: str = "") -> str:
    page.click("#new-note")
    page.fill("#title", title)
    page.fill("#body", body)
    page.click("#close")
    note = page.locator("#notes li", has_text=title).first
    try:
        expect(note).to_be_attached(timeout=TIMEOUT)
    except AssertionError:
        raise AssertionError(f"note {title!r} not listed; {state(page)}") from None
    key = note.get_attribute("data-key")
    assert key
    return key


def state(page: Page) -> str:
    """What the page shows and logged, for a failure's message."""
    return (
        f"notes: {page.inner_html('#notes')[:1000]!r}; editor visible: "
        f"{page.is_visible('#editor')}; title field: {page.input_value('#title')!r}; "
        f"status: {page.evaluate('JSON.stringify(window.cognate && window.cognate.status)')}; "
        f"errors: {getattr(page, 'errors', None)}"
    )


def edit_note(page: Page, key: str, title: str) -> None:
    page.click(f'#notes li[data-key="{key}"]')
    page.fill("#title", title)
    page.click("#close")


def titles(page: Page) -> list[str]:
    return page.locator("#notes li .title").all_inner_texts()


def expect_titles(page: Page, *wanted: str) -> None:
    """The note list shows exactly these titles (in any order), within the timeout."""
    try:
        page.wait_for_function(
            """(wanted) => JSON.stringify([...document.querySelectorAll("#notes li .title")]
                 .map((e) => e.textContent).sort()) === JSON.stringify(wanted)""",
            arg=sorted(wanted),
            timeout=TIMEOUT,
        )
    except Exception:
        raise AssertionError(f"wanted titles {sorted(wanted)}; {state(page)}") from None


def server_notes(site, page: Page) -> dict[str, dict]:
    """The notes the server holds for the page's identity (Cognito Sync ListRecords)."""
    current = session(page)
    path = (
        f"/aws/identitypools/{quote(current['identityPoolId'], safe='')}/identities/"
        f"{quote(current['identityId'], safe='')}/datasets/notes/records?lastSyncCount=0"
    )
    response = requests.get(
        site.url + path, headers={"Authorization": f"Bearer {current['token']}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return {r["Key"]: json.loads(r["Value"]) for r in response.json()["Records"] if "Value" in r}


def server_titles(site, page: Page) -> list[str]:
    return sorted(note["title"] for note in server_notes(site, page).values())


def same_person(source_context, target_context) -> None:
    """Give a second browser the first one's cookies: the same guest (or signed-in user), as
    a person's other device would be after signing in."""
    target_context.add_cookies(source_context.cookies())
