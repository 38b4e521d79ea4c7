"""The sync admin screens render and delete through the service."""

import pytest
from django.urls import reverse

from identity import selectors, services
from syncstore import services as sync_services
from syncstore.models import Dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset():
    pool = services.pool_create(name="Sync admin", allow_unauthenticated=True)
    identity = services.identity_create_guest(pool=selectors.pool_view(pool.id))
    patches = [
        sync_services.Patch(key="long", op="replace", value="x" * 500, sync_count=0),
        sync_services.Patch(key="gone", op="remove", value=None, sync_count=0),
    ]
    update = sync_services.records_update(
        identity=identity, dataset_name="notes", patches=patches, modified_by="test"
    )
    return Dataset.objects.get(pk=update.dataset_id)


def test_dataset_page_shows_records_with_previews_and_tombstones(admin_client, dataset):
    page = admin_client.get(reverse("admin:syncstore_dataset_change", args=[dataset.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert "(500 characters)" in body
    assert "gone" in body


@pytest.mark.parametrize(
    "name",
    ["dataset", "poolusage", "device", "poolsyncconfig", "jobrun", "streamrecord", "bulkpublish"],
)
def test_sync_changelists_render(admin_client, dataset, name):
    page = admin_client.get(reverse(f"admin:syncstore_{name}_changelist"))
    assert page.status_code == 200


def test_pool_usage_counts_datasets_and_bytes(admin_client, dataset):
    body = admin_client.get(reverse("admin:syncstore_poolusage_changelist")).content.decode()
    assert "Sync admin" in body
    assert '<td class="field-storage">504</td>' in body  # key "long" + 500 characters


def test_deleting_a_dataset_in_the_admin_goes_through_the_service(admin_client, dataset):
    response = admin_client.post(
        reverse("admin:syncstore_dataset_delete", args=[dataset.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    dataset.refresh_from_db()
    assert dataset.deleted is not None and dataset.deleted_at_count == 1
    assert not dataset.records.exists()
    assert Dataset.objects.filter(pk=dataset.pk).exists()  # the row keeps its sync count


def test_identity_page_links_to_its_datasets(admin_client, dataset):
    page = admin_client.get(reverse("admin:identity_identity_change", args=[dataset.identity_id]))
    assert f"identity__id__exact={dataset.identity_id}" in page.content.decode()


@pytest.fixture
def merged_pair():
    """A guest merged into an account where both had `colour`: the guest's value is kept in
    `prefs.<guest id>`."""
    pool = services.pool_create(name="Merges", allow_unauthenticated=True)
    view = selectors.pool_view(pool.id)
    account = services.identity_create_guest(pool=view)
    guest = services.identity_create_guest(pool=view)
    for identity, colour in ((account, "red"), (guest, "blue")):
        sync_services.records_update(
            identity=identity,
            dataset_name="prefs",
            modified_by="t",
            patches=[
                sync_services.Patch("colour", "replace", colour, 0),
                sync_services.Patch(f"only-{colour}", "replace", "x", 0),
            ],
        )
    services.identity_merge(merged=guest, survivor=account, trigger="test", logins=[])
    kept = Dataset.objects.get(identity=account, name=f"prefs.{guest.id}")
    return account, guest, kept


def values(identity, name):
    dataset = Dataset.objects.get(identity=identity, name=name)
    return dict(dataset.records.filter(value__isnull=False).values_list("key", "value"))


def test_take_one_merged_value_into_the_root(admin_client, merged_pair):
    account, _, kept = merged_pair
    assert values(account, "prefs") == {"colour": "red", "only-red": "x", "only-blue": "x"}
    page = admin_client.get(reverse("admin:syncstore_dataset_change", args=[kept.pk]))
    assert 'name="take_key" value="colour"' in page.content.decode()
    response = admin_client.post(
        reverse("admin:syncstore_dataset_take", args=[kept.pk]), {"take_key": "colour"}
    )
    assert response.status_code == 302
    assert values(account, "prefs")["colour"] == "blue"
    kept.refresh_from_db()
    assert kept.deleted is not None  # nothing left in it


def test_merged_dataset_actions(admin_client, merged_pair):
    account, guest, kept = merged_pair
    assert kept.name == f"prefs.{guest.id}"
    listing = reverse("admin:syncstore_dataset_changelist")
    assert f"prefs.{guest.id}" in admin_client.get(listing, {"merged": "yes"}).content.decode()
    admin_client.post(listing, {"action": "dismiss", "_selected_action": [kept.pk]})
    kept.refresh_from_db()
    assert kept.deleted is not None
    assert values(account, "prefs")["colour"] == "red"


def test_stream_records_and_bulk_publishes_are_shown(admin_client, dataset):
    from syncstore.models import BulkPublish, StreamRecord

    StreamRecord.objects.create(
        pool_id=dataset.identity.pool_id,
        dataset=dataset,
        sync_count=1,
        payload={"syncCount": 1},
        attempts=3,
        last_error="ResourceNotFoundException: stream gone",
    )
    BulkPublish.objects.create(
        pool_id=dataset.identity.pool_id, status="FAILED", failure_message="no stream"
    )
    rows = admin_client.get(reverse("admin:syncstore_streamrecord_changelist")).content.decode()
    assert "ResourceNotFoundException: stream gone" in rows
    jobs = admin_client.get(reverse("admin:syncstore_bulkpublish_changelist")).content.decode()
    assert "FAILED" in jobs
