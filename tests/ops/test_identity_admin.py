"""What an operator can do to identities in the admin: disable, revoke, export as JSON,
delete with their data. Each goes through a service and leaves a log entry."""

import json

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.admin.utils import quote
from django.urls import reverse

from identity.models import Identity
from syncstore import services as sync_services
from syncstore.models import Dataset, Record
from tests.ops.conftest import sign_in, write

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:identity_identity_changelist"


def change_url(identity, extra: str = "") -> str:
    return reverse("admin:identity_identity_change", args=[quote(identity.pk)]) + extra


def act(admin_client, action: str, *identities, **extra):
    return admin_client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [i.pk for i in identities], **extra},
    )


def logged(identity, flag=CHANGE) -> list[str]:
    entries = LogEntry.objects.filter(object_id=identity.pk, action_flag=flag)
    return [entry.get_change_message() for entry in entries]


def test_disable_action_disables_and_revokes(admin_client, guest, new_guest):
    other = new_guest()
    act(admin_client, "disable", guest, other)
    for identity in (guest, other):
        identity.refresh_from_db()
        assert identity.state == Identity.State.DISABLED
        assert identity.credentials_not_before is not None
        assert logged(identity) == ["Disabled it (and revoked its credentials)."]


def test_revoke_action_is_logged(admin_client, guest):
    act(admin_client, "revoke_credentials", guest)
    guest.refresh_from_db()
    assert guest.credentials_not_before is not None and guest.state == Identity.State.GUEST
    assert logged(guest) == ["Revoked its credentials and tokens."]


def test_change_page_buttons_revoke_and_disable(admin_client, guest):
    page = admin_client.get(change_url(guest)).content.decode()
    assert 'action="revoke/"' in page and 'action="disable/"' in page and 'href="export/"' in page

    response = admin_client.post(change_url(guest, "revoke/"))
    assert response.status_code == 302 and response["Location"] == change_url(guest)
    guest.refresh_from_db()
    assert guest.credentials_not_before is not None and guest.state == Identity.State.GUEST

    admin_client.post(change_url(guest, "disable/"))
    guest.refresh_from_db()
    assert guest.state == Identity.State.DISABLED
    assert 'action="disable/"' not in admin_client.get(change_url(guest)).content.decode()


def test_buttons_that_change_state_refuse_get(admin_client, guest):
    assert admin_client.get(change_url(guest, "disable/")).status_code == 405
    guest.refresh_from_db()
    assert guest.state == Identity.State.GUEST


def test_export_of_one_identity_downloads_its_data(admin_client, pool, guest):
    account = sign_in(pool, guest, "accounts.google.com", "g-42")
    write(account, "notes", {"title": "Groceries", "gone": "x"})
    write(account, "notes", {"gone": None}, counts={"gone": 1})
    sync_services.sync_config_set(
        pool_id=pool.id,
        push_sync={
            "ApplicationArns": ["arn:aws:sns:us-east-1:123456789012:app/GCM/notes"],
            "RoleArn": "arn:aws:iam::123456789012:role/push",
        },
    )
    device = sync_services.device_register(identity=account, platform="GCM", token="token-1")
    sync_services.subscription_add(
        identity=account, device_id=device.device_id, dataset_name="notes"
    )

    response = act(admin_client, "export_json", account)
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    exported = json.loads(response.content)
    assert exported["identity"] == account.id and exported["state"] == "authenticated"
    assert exported["pool"] == {"id": pool.id, "name": "Ops pool"}
    assert exported["logins"][0]["provider"] == "accounts.google.com"
    assert exported["logins"][0]["subject"] == "g-42"
    (notes,) = exported["datasets"]
    records = {record["key"]: record for record in notes["records"]}
    assert records["title"]["value"] == "Groceries" and records["title"]["sync_count"] == 1
    assert records["gone"]["removed"] is True and records["gone"]["sync_count"] == 2
    assert exported["devices"][0]["token"] == "token-1"
    assert exported["devices"][0]["subscriptions"] == ["notes"]
    assert logged(account) == ["Exported its data as JSON."]

    button = admin_client.get(change_url(account, "export/"))
    assert json.loads(button.content)["datasets"][0]["name"] == "notes"


def test_export_of_several_identities_is_a_list(admin_client, guest, new_guest):
    other = new_guest()
    exported = json.loads(act(admin_client, "export_json", guest, other).content)
    assert sorted(item["identity"] for item in exported) == sorted([guest.id, other.id])


def test_export_includes_the_guest_merged_into_the_account(admin_client, pool, new_guest):
    account = sign_in(pool, new_guest(), "accounts.google.com", "g-7")
    guest = new_guest()
    write(guest, "draft", {"line": "before signing in"})
    sign_in(pool, guest, "accounts.google.com", "g-7")  # the guest merges into the account
    exported = json.loads(act(admin_client, "export_json", account).content)
    assert [merge["merged_identity"] for merge in exported["merges_in"]] == [guest.id]
    (merged,) = exported["merged_identities"]
    assert merged["identity"] == guest.id and merged["merged_into"] == account.id
    assert merged["datasets"][0]["records"][0]["value"] == "before signing in"


def test_delete_action_confirms_then_deletes_identities_with_their_data(admin_client, guest):
    write(guest, "notes", {"k": "v"})
    confirm = act(admin_client, "delete_selected", guest)
    assert confirm.status_code == 200 and "Are you sure" in confirm.content.decode()
    assert Identity.objects.filter(pk=guest.pk).exists()

    act(admin_client, "delete_selected", guest, post="yes")
    assert not Identity.objects.filter(pk=guest.pk).exists()
    assert not Dataset.objects.filter(identity_id=guest.pk).exists()
    assert not Record.objects.filter(dataset__identity_id=guest.pk).exists()
    assert LogEntry.objects.filter(object_id=guest.pk, action_flag=DELETION).exists()


def test_delete_action_says_it_deletes_the_data(admin_client, guest):
    page = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert "Delete the selected identities and all their data" in page
    assert "Export their data as JSON" in page


def test_the_identity_form_changes_nothing_behind_the_services(admin_client, guest):
    page = admin_client.get(change_url(guest)).content.decode()
    assert 'name="principal_tags"' not in page and 'name="last_used_0"' not in page
    admin_client.post(change_url(guest), {"principal_tags": '{"role": "admin"}', "state": "x"})
    guest.refresh_from_db()
    assert guest.principal_tags == {} and guest.state == Identity.State.GUEST
