"""`manage.py export_identity` and `erase_identity`: a person found by identity id, login,
developer user identifier or site account; their data written as JSON, or erased for good."""

import io
import json

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from identity import credentials, selectors, services
from identity.models import Identity, Login, Merge
from syncstore.models import Dataset, Record
from tests.ops.conftest import sign_in, write

pytestmark = pytest.mark.django_db


def export(*args) -> dict | list:
    out = io.StringIO()
    call_command("export_identity", *args, stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


def erase(*args) -> str:
    out = io.StringIO()
    call_command("erase_identity", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def person(pool, new_guest):
    """An account (a Google login and a developer user identifier) with notes, and the
    guest it was before signing in on a second device, merged into it."""
    account = sign_in(pool, new_guest(), "accounts.google.com", "g-100")
    services.developer_token_issue(
        pool=selectors.pool_view(pool.id),
        logins={"login.ops.example": "user-100"},
        identity_id=account.id,
    )
    write(account, "notes", {"title": "Mine"})
    guest = new_guest()
    write(guest, "draft", {"line": "typed as a guest"})
    sign_in(pool, guest, "accounts.google.com", "g-100")
    return account


@pytest.fixture
def bystander(new_guest):
    someone = new_guest()
    write(someone, "notes", {"title": "Not theirs"})
    return someone


@pytest.mark.parametrize(
    "lookup",
    [
        lambda account: ["--identity", account.id],
        lambda account: ["--login", "accounts.google.com=g-100"],
        lambda account: ["--developer-user", "user-100"],
        lambda account: ["--developer-user", "user-100", "--pool", account.pool_id],
    ],
    ids=["identity", "login", "developer-user", "developer-user-in-pool"],
)
def test_export_finds_the_person_by_each_kind_of_name(lookup, person, bystander):
    exported = export(*lookup(person))
    assert exported["identity"] == person.id
    assert exported["developer_identifiers"] == ["user-100"]
    datasets = {dataset["name"]: dataset for dataset in exported["datasets"]}
    assert datasets["notes"]["records"][0]["value"] == "Mine"
    assert datasets["draft"]["records"][0]["value"] == "typed as a guest"  # by the merge
    merged = exported["merged_identities"][0]
    assert merged["datasets"][0]["records"][0]["value"] == "typed as a guest"
    assert "Not theirs" not in json.dumps(exported)


def test_export_of_a_site_account(django_user_model):
    call_command("ensure_demo_pool", stdout=io.StringIO())
    user = django_user_model.objects.create_user("alice")
    identity = services.site_user_identity(user=user)
    write(identity, "settings", {"lang": "fr"})
    exported = export("--user", "alice")
    assert exported["identity"] == identity.id
    assert exported["pool"]["id"] == settings.COGNATE_SITE_POOL_ID
    assert exported["datasets"][0]["records"][0]["value"] == "fr"


def test_export_writes_a_file(tmp_path, person):
    target = tmp_path / "person.json"
    out = io.StringIO()
    call_command("export_identity", "--identity", person.id, "--output", str(target), stdout=out)
    assert out.getvalue() == ""
    assert json.loads(target.read_text())["identity"] == person.id


def test_a_login_in_two_pools_exports_a_list(pool, new_guest):
    other = services.pool_create(name="Second", allow_unauthenticated=True)
    first = sign_in(pool, new_guest(), "accounts.google.com", "g-2")
    second = sign_in(other, None, "accounts.google.com", "g-2")
    exported = export("--login", "accounts.google.com=g-2")
    assert sorted(item["identity"] for item in exported) == sorted([first.id, second.id])
    only = export("--login", "accounts.google.com=g-2", "--pool", other.id)
    assert only["identity"] == second.id


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--identity", "us-east-1:00000000-0000-0000-0000-000000000000"], "was not found"),
        (["--login", "accounts.google.com=nobody"], "login accounts.google.com=nobody"),
        (["--login", "no-equals-sign"], "PROVIDER=SUBJECT"),
        (["--developer-user", "nobody"], "developer user identifier 'nobody'"),
        (["--user", "nobody"], "No site account is called 'nobody'"),
    ],
)
@pytest.mark.parametrize("command", ["export_identity", "erase_identity"])
def test_an_unknown_person_is_a_clear_error(command, args, message, bystander):
    with pytest.raises(CommandError, match=message):
        call_command(command, *args, "--yes" if command == "erase_identity" else "--pool=x")


def test_a_site_account_without_an_identity_is_a_clear_error(django_user_model):
    django_user_model.objects.create_user("bob")
    with pytest.raises(CommandError, match="site account 'bob' was not found"):
        call_command("export_identity", "--user", "bob")


def test_erase_without_yes_refuses_when_nobody_can_answer(person):
    with pytest.raises(CommandError, match="--yes"):
        call_command("erase_identity", "--identity", person.id)  # stdin is not a terminal
    assert Identity.objects.filter(pk=person.pk).exists()


def test_erase_deletes_the_person_and_the_guest_merged_into_them(
    person, bystander, django_capture_on_commit_callbacks
):
    guest_id = Merge.objects.get(survivor=person).merged_identity_id
    issued_before = person.created.timestamp()
    with django_capture_on_commit_callbacks(execute=True):
        printed = erase("--login", "accounts.google.com=g-100", "--yes")
    assert person.id in printed and guest_id in printed
    # The account's notes and the draft the merge brought, and the guest's own draft.
    assert "2 identities, 2 logins, 3 datasets, 3 records" in printed
    for identity_id in (person.id, guest_id):
        assert not Identity.objects.filter(pk=identity_id).exists()
        assert not Dataset.objects.filter(identity_id=identity_id).exists()
        assert credentials.is_revoked(identity_id, person.pool_id, issued_before + 3600)
    assert not Login.objects.filter(subject__in=["g-100", "user-100"]).exists()
    assert Record.objects.filter(dataset__identity=bystander).count() == 1  # others untouched


def test_erase_of_an_identity_merged_away_points_to_where_its_data_is(person):
    guest_id = Merge.objects.get(survivor=person).merged_identity_id
    with pytest.raises(CommandError, match=f"merged into {person.id}"):
        erase("--identity", guest_id, "--yes")
    assert Identity.objects.filter(pk__in=[guest_id, person.id]).count() == 2


def test_erase_by_developer_user_with_noinput(person):
    printed = erase("--developer-user", "user-100", "--noinput")
    assert "Erased:" in printed
    assert not Identity.objects.filter(pk=person.pk).exists()


def test_erase_of_a_site_account(django_user_model):
    call_command("ensure_demo_pool", stdout=io.StringIO())
    user = django_user_model.objects.create_user("carol")
    identity = services.site_user_identity(user=user)
    erase("--user", "carol", "--yes")
    assert not Identity.objects.filter(pk=identity.pk).exists()
    assert django_user_model.objects.filter(username="carol").exists()  # the account stays
