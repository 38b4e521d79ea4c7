"""Retention jobs with a replaceable clock: each job is run as if it were a given time."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from identity import selectors as identity_selectors
from identity import services as identity_services
from identity import signing_keys
from identity.models import Identity, SigningKey
from syncstore import services
from syncstore.models import Dataset, JobRun
from syncstore.tasks import retention_run, signing_key_rotation

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def pool(name: str, **fields):
    made = identity_services.pool_create(name=name, allow_unauthenticated=True)
    for field, value in fields.items():
        setattr(made, field, value)
    made.save()
    return made


def identity(pool, *, created: float, used: float | None = None, state="guest") -> Identity:
    return Identity.objects.create(
        id=identity_services.new_identity_id(),
        pool=pool,
        state=state,
        created=days_ago(created),
        last_used=None if used is None else days_ago(used),
    )


def write(identity: Identity, dataset: str, *, at: float, **values: str) -> None:
    services.records_update(
        identity=identity,
        dataset_name=dataset,
        patches=[services.Patch(key, "replace", value, 0) for key, value in values.items()],
        modified_by=identity.id,
    )
    Dataset.objects.filter(identity=identity, name=dataset).update(modified=days_ago(at))


def test_guests_unused_past_their_pools_retention_go_with_their_data():
    kept_for_30 = pool("thirty days", guest_retention_days=30)
    forever = pool("forever")
    stale = identity(kept_for_30, created=90, used=40)
    never_used = identity(kept_for_30, created=40)
    write(stale, "notes", at=45, a="1")
    recently_used = identity(kept_for_30, created=90, used=2)
    recently_written = identity(kept_for_30, created=90, used=40)
    write(recently_written, "notes", at=1, a="1")
    signed_in = identity(kept_for_30, created=90, used=40, state="authenticated")
    other_pool = identity(forever, created=900, used=800)
    new = identity(kept_for_30, created=1)

    report = retention_run(now=NOW.isoformat())

    assert report["guests_deleted"] == 2
    assert report["by_pool"] == {kept_for_30.id: 2}
    remaining = set(Identity.objects.values_list("id", flat=True))
    assert stale.id not in remaining and never_used.id not in remaining
    assert {recently_used.id, recently_written.id, signed_in.id, other_pool.id, new.id} <= remaining
    assert not Dataset.objects.filter(identity_id=stale.id).exists()
    # A deleted guest's credentials stop working.
    assert identity_selectors.identity_revoked_before(stale.id) == float("inf")
    # The job left its report.
    run = JobRun.objects.get(name="retention")
    assert run.report["guests_deleted"] == 2 and run.finished is not None and not run.error


def test_a_second_run_finds_nothing_more():
    kept_for_30 = pool("thirty days", guest_retention_days=30)
    identity(kept_for_30, created=90, used=40)
    assert retention_run(now=NOW.isoformat())["guests_deleted"] == 1
    assert retention_run(now=NOW.isoformat())["guests_deleted"] == 0


def test_credentials_and_tokens_mark_an_identity_as_used(settings):
    made = pool("touch")
    view = identity_selectors.pool_view(made.id)
    guest = identity(made, created=100, used=100)
    identity_services.guest_credentials_issue(identity=guest, pool=view)
    guest.refresh_from_db()
    assert guest.last_used > datetime.now(UTC) - timedelta(minutes=1)
    made.guest_retention_days = 30
    made.save()
    assert retention_run()["guests_deleted"] == 0


def test_datasets_a_merge_kept_aside_expire_after_their_retention():
    made = pool("merged data", merged_data_retention_days=7)
    person = identity(made, created=100, used=1, state="authenticated")
    write(person, "notes", at=20, a="mine")
    write(person, "notes.2", at=10, a="the guest's")
    write(person, "notes.3", at=3, a="the other guest's")
    Dataset.objects.filter(identity=person, name__in=["notes.2", "notes.3"]).update(
        merge_root="notes"
    )
    elsewhere = identity(pool("keeps merged data"), created=100, state="authenticated")
    write(elsewhere, "notes.2", at=300, a="old")
    Dataset.objects.filter(identity=elsewhere).update(merge_root="notes")

    report = retention_run(now=NOW.isoformat())

    assert report["merged_datasets_deleted"] == 1
    live = set(Dataset.objects.filter(deleted__isnull=True).values_list("identity_id", "name"))
    assert live == {(person.id, "notes"), (person.id, "notes.3"), (elsewhere.id, "notes.2")}
    # Deleted as any dataset is: its row stays with its count, so devices learn of it.
    gone = Dataset.objects.get(identity=person, name="notes.2")
    assert gone.deleted is not None and gone.deleted_at_count == 1


def test_old_revocations_are_forgotten_but_disabled_identities_stay_refused():
    made = pool("revocations")
    old = identity(made, created=10, state="authenticated")
    recent = identity(made, created=10, state="authenticated")
    disabled = identity(made, created=10, state="disabled")
    Identity.objects.filter(pk__in=[old.pk, disabled.pk]).update(credentials_not_before=days_ago(2))
    Identity.objects.filter(pk=recent.pk).update(credentials_not_before=NOW - timedelta(hours=3))

    assert retention_run(now=NOW.isoformat())["revocations_pruned"] == 1
    values = dict(Identity.objects.values_list("id", "credentials_not_before"))
    assert values[old.id] is None
    assert values[recent.id] is not None and values[disabled.id] is not None


def test_old_job_reports_are_pruned(settings):
    settings.JOBS_REPORTS_KEEP_DAYS = 30
    JobRun.objects.create(name="usage-flush", started=days_ago(31), finished=days_ago(31))
    JobRun.objects.create(name="usage-flush", started=days_ago(29), finished=days_ago(29))
    JobRun.objects.create(name="retention", started=days_ago(40))  # still running: kept
    report = retention_run(now=NOW.isoformat())
    assert report["job_reports_deleted"] == 1
    # The one from 29 days ago, the unfinished one and this run's own report remain.
    assert JobRun.objects.count() == 3


def test_the_signing_key_rotates_once_it_is_old(settings):
    settings.COGNATE_SIGNING_KEY_MAX_AGE_DAYS = 90
    first = signing_keys.signing_key_current()
    SigningKey.objects.filter(pk=first.pk).update(created=days_ago(30))
    assert signing_key_rotation(now=NOW.isoformat())["rotated"] is None

    SigningKey.objects.filter(pk=first.pk).update(created=days_ago(91))
    report = signing_key_rotation(now=NOW.isoformat())
    assert report["rotated"]["retired"] == first.kid
    current = signing_keys.signing_key_current()
    assert current.kid == report["rotated"]["new"] != first.kid
    # The retired key stays published while tokens it signed may live...
    SigningKey.objects.filter(pk=first.pk).update(retired=NOW - timedelta(hours=2))
    assert signing_key_rotation(now=NOW.isoformat())["retired_keys_deleted"] == 0
    # ...and goes once none can.
    SigningKey.objects.filter(pk=first.pk).update(retired=days_ago(2))
    assert signing_key_rotation(now=NOW.isoformat())["retired_keys_deleted"] == 1
    assert not SigningKey.objects.filter(pk=first.pk).exists()


def test_rotation_can_be_turned_off(settings):
    settings.COGNATE_SIGNING_KEY_MAX_AGE_DAYS = 0
    first = signing_keys.signing_key_current()
    SigningKey.objects.filter(pk=first.pk).update(created=days_ago(1000))
    assert signing_key_rotation(now=NOW.isoformat())["rotated"] is None


def test_run_jobs_runs_the_named_jobs_as_of_a_time(capsys):
    kept_for_30 = pool("thirty days", guest_retention_days=30)
    identity(kept_for_30, created=90, used=40)
    call_command("run_jobs", "retention", "--now", "2027-03-01T12:00Z")
    line = capsys.readouterr().out.strip()
    name, report = line.split(": ", 1)
    assert name == "retention" and json.loads(report)["guests_deleted"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cleanup"], "Unknown job 'cleanup'"),
        (["--now", "yesterday"], "is not an ISO 8601 time"),
        (["--now", "2027-03-01T12:00"], "needs a time zone"),
    ],
)
def test_run_jobs_refuses_what_it_cannot_do(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("run_jobs", *args)
