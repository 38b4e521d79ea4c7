"""The pool's dashboard in the admin: the right figures for seeded data, a chart drawn
without script, a query count that does not grow with the pool, staff only."""

import re
from datetime import timedelta

import pytest
from django.contrib.admin.utils import quote
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from identity import services
from syncstore import services as sync_services
from syncstore import tasks
from syncstore.models import DailyUsage, JobRun
from tests.ops.conftest import sign_in, write

pytestmark = pytest.mark.django_db


def dashboard_url(pool) -> str:
    return reverse("admin:syncstore_poolusage_dashboard", args=[quote(pool.id)])


@pytest.fixture
def seeded(pool, new_guest, django_capture_on_commit_callbacks):
    """One identity in each state, data, a merge and counted syncs (some flushed)."""
    with django_capture_on_commit_callbacks(execute=True):
        stays_guest, merged_guest, disabled = new_guest(), new_guest(), new_guest()
        account = sign_in(pool, new_guest(), "accounts.google.com", "g-1")
        write(account, "notes", {"a": "1", "b": "22"})  # sync 1
        write(stays_guest, "scratch", {"x": "1"})  # sync 2
        sync_services.dataset_delete(identity=stays_guest, dataset_name="scratch")
    tasks.usage_flush()  # two syncs now in DailyUsage
    with django_capture_on_commit_callbacks(execute=True):
        write(merged_guest, "notes", {"c": "333"})  # sync 3
        services.identity_merge(
            merged=merged_guest, survivor=account, trigger="test", logins=["accounts.google.com"]
        )  # sync 4: "c" is added to the account's notes
        services.identity_disable(identity=disabled)
    DailyUsage.objects.create(pool=pool, day=timezone.now().date() - timedelta(days=3), syncs=7)
    return account


def test_dashboard_shows_the_pools_figures(admin_client, pool, seeded):
    response = admin_client.get(dashboard_url(pool))
    assert response.status_code == 200
    figures = response.context["figures"]
    assert figures.identities == {
        "total": 4,
        "guest": 1,
        "authenticated": 1,
        "disabled": 1,
        "merged": 1,
    }
    # The account's notes (a, b, c) and the merged guest's own notes (c), left as they were;
    # the guest's deleted scratch dataset.
    assert figures.datasets["live"] == 2
    assert figures.datasets["removed"] == 1
    assert figures.datasets["live_records"] == 4
    assert figures.datasets["storage"] == len("a1b22c333") + len("c333")
    assert figures.merges["total"] == 1 and figures.merges["recent"] == 1
    syncs = dict(figures.syncs)
    today = timezone.now().date()
    assert syncs[today] == 4  # two flushed, two still in the cache
    assert DailyUsage.objects.get(pool=pool, day=today).syncs == 2
    assert syncs[today - timedelta(days=3)] == 7
    assert sum(syncs.values()) == 11

    body = response.content.decode()
    assert "Ops pool" in body
    assert len(re.findall(r"<rect ", body)) == 30
    assert f"{today:%a %-d %b %Y}: 4 syncs" in body
    assert "11 in all" in body
    assert f"pool__id__exact={pool.id}" in body  # links to the pool's merges and identities
    assert not re.search(r"<script(?![^>]*\ssrc=)", body), "inline script breaks the CSP"


def test_dashboard_lists_the_latest_run_of_each_job(admin_client, pool, seeded):
    tasks.usage_flush()
    JobRun.objects.create(name="retention", error="RuntimeError: the disk is full")
    body = admin_client.get(dashboard_url(pool)).content.decode()
    assert "usage-flush" in body and "syncs: 2" in body  # the latest flush moved two
    assert "RuntimeError: the disk is full" in body


def test_dashboard_queries_do_not_grow_with_the_pool(admin_client, pool, new_guest):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(dashboard_url(pool)).status_code == 200
        return len(captured)

    write(new_guest(), "notes", {"k": "v"})
    few = queries()
    for number in range(20):
        write(new_guest(), f"set{number % 3}", {"k": "v"})
    assert queries() == few


def test_dashboard_is_linked_from_the_pool_pages(admin_client, pool):
    url = dashboard_url(pool)
    for page in (
        reverse("admin:identity_identitypool_change", args=[quote(pool.id)]),
        reverse("admin:identity_identitypool_changelist"),
        reverse("admin:syncstore_poolusage_changelist"),
    ):
        assert url in admin_client.get(page).content.decode(), page


def test_dashboard_is_for_staff_only(client, django_user_model, pool):
    response = client.get(dashboard_url(pool))
    assert response.status_code == 302 and "/login/" in response["Location"]
    django_user_model.objects.create_user("plain", password="pw")
    client.login(username="plain", password="pw")
    assert client.get(dashboard_url(pool)).status_code == 302


def test_staff_without_view_permission_is_refused(client, django_user_model, pool):
    django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.login(username="staff", password="pw")
    assert client.get(dashboard_url(pool)).status_code == 403


def test_unknown_pool_is_not_found(admin_client):
    url = reverse("admin:syncstore_poolusage_dashboard", args=["us-east-1_3Anope"])
    assert admin_client.get(url).status_code == 404
