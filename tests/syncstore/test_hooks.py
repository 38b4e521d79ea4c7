"""syncstore hears identity through its hooks (syncstore/hooks.py): a merge's data step runs
inside the merge's transaction, and the rest is heard only once it commits."""

import pytest

from identity import selectors, services
from identity.models import Identity, Login, Merge
from syncstore.checks import data_hooks
from syncstore.hooks import DataHooks
from syncstore.models import Dataset
from tests.ops.conftest import sign_in, write

pytestmark = pytest.mark.django_db

heard: list[tuple[str, dict]] = []


@pytest.fixture
def pool():
    return services.pool_create(name="Hooks", allow_unauthenticated=True)


@pytest.fixture
def guest(pool):
    return services.identity_create_guest(pool=selectors.pool_view(pool.id))


class Refusing(DataHooks):
    """A hook whose data step fails after syncstore's has moved the datasets."""

    def identity_merging(self, **kwargs) -> list[dict]:
        raise RuntimeError("this hook refuses the merge")


class Listening(DataHooks):
    def identity_merging(self, **kwargs) -> list[dict]:
        heard.append(("merging", {"survivor": kwargs["survivor"].id}))
        return super().identity_merging(**kwargs)

    def identities_merged(self, **kwargs) -> None:
        heard.append(("merged", kwargs))


def test_a_failing_data_step_rolls_the_whole_merge_back(settings, pool, guest):
    account = sign_in(pool, None, "accounts.google.com", "g-1")
    write(guest, "notes", {"k": "from the guest"})
    settings.COGNATE_IDENTITY_HOOKS = ["syncstore.hooks.DataHooks", f"{__name__}.Refusing"]
    with pytest.raises(RuntimeError, match="refuses"):
        sign_in(pool, guest, "accounts.google.com", "g-1")
    guest.refresh_from_db()
    assert guest.state == Identity.State.GUEST and guest.merged_into is None
    assert not Dataset.objects.filter(identity=account).exists()
    assert not Merge.objects.exists()
    assert Login.objects.get(subject="g-1").identity_id == account.id


def test_the_merge_is_heard_after_commit_with_its_summary(
    settings, pool, guest, django_capture_on_commit_callbacks
):
    account = sign_in(pool, None, "accounts.google.com", "g-2")
    write(guest, "notes", {"k": "v"})
    settings.COGNATE_IDENTITY_HOOKS = [f"{__name__}.Listening"]
    heard.clear()
    with django_capture_on_commit_callbacks(execute=True):
        sign_in(pool, guest, "accounts.google.com", "g-2")
        assert heard == [("merging", {"survivor": account.id})]  # not committed yet
    summary = Merge.objects.get(merged_identity_id=guest.id).summary
    assert summary == [{"dataset": "notes", "added": 1, "kept": {}}]
    assert heard[1:] == [
        ("merged", {"merged_id": guest.id, "survivor_id": account.id, "summary": summary})
    ]


def test_the_check_wants_the_data_hooks(settings):
    assert data_hooks(None) == []
    settings.COGNATE_IDENTITY_HOOKS = ["identity.hooks.IdentityHooks"]
    assert [problem.id for problem in data_hooks(None)] == ["cognate.E008"]
