"""Signing in from the demo app: the guest's notes come along (site accounts and provider
tokens), a second device's guest is merged, signing out starts a new guest."""

import secrets

import boto3
from playwright.sync_api import Page, expect

from tests.browser.app import (
    TIMEOUT,
    add_note,
    expect_titles,
    identity,
    open_app,
    ready,
    server_titles,
    session,
    synced,
)
from tests.conftest import REGION, make_operator
from tests.support.oidc import issuer

PASSWORD = "a long pass phrase 81"


def sign_up(page: Page, username: str) -> None:
    page.click("#sign-up")
    page.wait_for_url("**/accounts/signup/**")
    page.fill("input[name=username]", username)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: url.rstrip("/").count("/") == 2)  # back at the app
    ready(page)


def sign_in(page: Page, username: str) -> None:
    page.click("#sign-in")
    page.wait_for_url("**/accounts/login/**")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: url.rstrip("/").count("/") == 2)
    ready(page)


def test_signing_in_on_two_devices_brings_both_guests_notes_together(site, contexts):
    user = f"ada{secrets.token_hex(3)}"
    laptop = open_app(contexts(), site)
    guest = identity(laptop)
    add_note(laptop, "laptop note")
    synced(laptop)
    sign_up(laptop, user)
    expect(laptop.locator("#who")).to_have_text(f"Signed in as {user}")
    assert identity(laptop) == guest  # the first sign-in turns the guest into the account
    expect_titles(laptop, "laptop note")

    phone = open_app(contexts(), site)
    phone_guest = identity(phone)
    add_note(phone, "phone note")
    add_note(phone, "another phone note")
    synced(phone)
    sign_in(phone, user)
    assert identity(phone) == guest and phone_guest != guest
    expect_titles(phone, "laptop note", "phone note", "another phone note")
    # The laptop hears of the merge and shows the phone's notes without a reload.
    expect_titles(laptop, "laptop note", "phone note", "another phone note")
    assert server_titles(site, laptop) == ["another phone note", "laptop note", "phone note"]
    assert laptop.errors == [] and phone.errors == []  # type: ignore[attr-defined]


def test_notes_written_offline_as_a_guest_come_along_on_sign_in(site, contexts):
    user = f"bea{secrets.token_hex(3)}"
    first = open_app(contexts(), site)
    sign_up(first, user)
    add_note(first, "account note")
    synced(first)

    context = contexts()
    device = open_app(context, site)
    context.set_offline(True)
    add_note(device, "written offline as a guest")
    context.set_offline(False)
    # Straight to the sign-in page before the outbox could be pushed: it is adopted.
    device.evaluate("window.cognate.close()")
    device.goto(f"{site.url}/accounts/login/?next=/")
    device.fill("input[name=login]", user)
    device.fill("input[name=password]", PASSWORD)
    device.click("form button[type=submit]")
    device.wait_for_url(lambda url: url.rstrip("/").count("/") == 2)
    ready(device)
    assert identity(device) == identity(first)
    synced(device)
    expect_titles(device, "account note", "written offline as a guest")
    expect_titles(first, "account note", "written offline as a guest")


def test_signing_out_starts_a_new_guest_and_the_account_keeps_its_notes(site, contexts):
    user = f"cy{secrets.token_hex(3)}"
    context = contexts()
    page = open_app(context, site)
    sign_up(page, user)
    account = identity(page)
    add_note(page, "belongs to the account")
    synced(page)
    page.click("#sign-out")
    expect(page.locator("#who")).to_contain_text("Guest", timeout=TIMEOUT)
    assert identity(page) != account
    expect(page.locator("#notes li.empty")).to_have_count(1)
    databases = page.evaluate("indexedDB.databases().then((all) => all.map((d) => d.name))")
    assert f"cognate:{account}" not in databases  # the account's local copy is gone

    sign_in(page, user)
    assert identity(page) == account
    expect_titles(page, "belongs to the account")


def test_signing_out_while_offline_keeps_unpushed_notes(site, contexts):
    user = f"dee{secrets.token_hex(3)}"
    context = contexts()
    page = open_app(context, site)
    sign_up(page, user)
    context.set_offline(True)
    add_note(page, "not pushed yet")
    page.click("#sign-out")
    expect(page.locator("#message")).to_contain_text("not pushed", timeout=TIMEOUT)
    expect(page.locator("#who")).to_contain_text("Signed in")
    context.set_offline(False)
    synced(page)
    assert server_titles(site, page) == ["not pushed yet"]


def test_signing_in_with_a_provider_token_links_then_merges(site, contexts):
    keys = make_operator(site, f"ops{secrets.token_hex(3)}")
    with issuer() as provider:
        aws = {"endpoint_url": f"{site.url}/aws", "region_name": REGION, **keys}
        arn = boto3.client("iam", **aws).create_open_id_connect_provider(
            Url=provider.url, ClientIDList=[provider.client_id], ThumbprintList=["0" * 40]
        )["OpenIDConnectProviderArn"]
        cognito = boto3.client("cognito-identity", **aws)
        pool_id = session(open_app(contexts(), site))["identityPoolId"]
        pool = cognito.describe_identity_pool(IdentityPoolId=pool_id)
        pool.pop("ResponseMetadata")
        cognito.update_identity_pool(**{**pool, "OpenIdConnectProviderARNs": [arn]})

        def sign_in_with_provider(page: Page, sub: str) -> None:
            token = provider.id_token(sub)
            page.evaluate(
                "([key, token]) => "
                "window.cognate.signIn({getLogins: async () => ({[key]: token})})",
                [provider.key, token],
            )

        tablet = open_app(contexts(), site)
        guest = identity(tablet)
        add_note(tablet, "tablet note")
        synced(tablet)
        sign_in_with_provider(tablet, "zoe")
        assert identity(tablet) == guest and session(tablet)["authenticated"] is True
        expect(tablet.locator("#who")).to_contain_text("Signed in")

        desktop = open_app(contexts(), site)
        add_note(desktop, "desktop note")
        synced(desktop)
        sign_in_with_provider(desktop, "zoe")
        assert identity(desktop) == guest
        expect_titles(desktop, "tablet note", "desktop note")
        expect_titles(tablet, "tablet note", "desktop note")
        assert session(desktop)["mode"] == "logins"


PUT_SAME_KEY = """(title) => window.cognate.dataset("notes").put("note-shared",
  JSON.stringify({title, body: "", updated: Date.now()}))"""


def test_values_a_merge_kept_aside_are_offered_and_can_be_taken(site, contexts):
    user = f"eve{secrets.token_hex(3)}"
    first = open_app(contexts(), site)
    sign_up(first, user)
    first.evaluate(PUT_SAME_KEY, "the account's version")
    synced(first)

    second = open_app(contexts(), site)
    second.evaluate(PUT_SAME_KEY, "the guest's version")
    synced(second)
    sign_in(second, user)
    # The account's value stays; the guest's is kept aside and offered.
    expect_titles(second, "the account's version")
    expect(second.locator("#conflict-count")).to_have_text("1", timeout=TIMEOUT)
    second.click("#conflicts-pane summary")
    offer = second.locator("#conflicts li.merge")
    expect(offer.locator("pre")).to_contain_text("the guest's version")
    offer.get_by_role("button", name="Use this version").click()
    expect_titles(second, "the guest's version")
    expect(second.locator("#conflict-count")).to_have_text("0", timeout=TIMEOUT)
    synced(second)
    expect_titles(first, "the guest's version")
