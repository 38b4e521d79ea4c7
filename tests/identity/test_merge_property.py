"""A property of the merge service: whatever two identities hold and whichever merge policy
the pool has, after a merge every value that existed before is in the survivor's datasets
(the root dataset or one made by the merge), and the survivor's sync counts only grew."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identity import selectors, services
from identity.models import Identity, IdentityPool
from syncstore import merge
from syncstore import services as sync_services
from syncstore.models import Dataset, Record

pytestmark = pytest.mark.django_db

NAMES = st.sampled_from(["notes", "prefs", "game.state"])
KEYS = st.sampled_from(["k1", "k2", "k3", "k4"])
VALUES = st.sampled_from(["red", "green", "blue", ""])
RECORDS = st.dictionaries(KEYS, st.tuples(VALUES, st.integers(0, 1000)), max_size=4)
DATASETS = st.dictionaries(NAMES, RECORDS, max_size=3)
BASE = datetime(2026, 1, 1, tzinfo=UTC)


def lossy_resolver(name, survivor, merged, *, survivor_id, merged_id):
    """A resolver that throws the merged identity's values away (the service must not let
    it)."""
    return merge.Plan()


def fill(identity, datasets):
    for name, records in datasets.items():
        if not records:
            continue
        sync_services.records_update(
            identity=identity,
            dataset_name=name,
            patches=[
                sync_services.Patch(key, "replace", value, 0, BASE + timedelta(seconds=when))
                for key, (value, when) in records.items()
            ],
            modified_by="test",
        )


def holdings(identity):
    """(root dataset, key, value) for every live value the identity can reach, and the sync
    count of each dataset."""
    values, counts = set(), {}
    for dataset in Dataset.objects.filter(identity=identity, deleted__isnull=True):
        counts[dataset.name] = dataset.sync_count
        root = dataset.merge_root or dataset.name
        for key, value in Record.objects.filter(dataset=dataset, value__isnull=False).values_list(
            "key", "value"
        ):
            values.add((root, key, value))
    return values, counts


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ours=DATASETS,
    theirs=DATASETS,
    policy=st.sampled_from(["merge", "newest", "cognito", "custom"]),
)
def test_no_value_is_lost_and_counts_only_grow(settings_fixture, ours, theirs, policy):
    settings_fixture.COGNATE_MERGE_RESOLVER = "tests.identity.test_merge_property.lossy_resolver"
    pool = services.pool_create(
        name="property",
        allow_unauthenticated=True,
        tags={IdentityPool.MERGE_POLICY_TAG: policy},
    )
    view = selectors.pool_view(pool.id)
    survivor = services.identity_create_guest(pool=view)
    merged = services.identity_create_guest(pool=view)
    fill(survivor, ours)
    fill(merged, theirs)
    survivor_before, counts_before = holdings(survivor)
    merged_before, _ = holdings(merged)

    record = services.identity_merge(merged=merged, survivor=survivor, trigger="test", logins=[])

    after, counts_after = holdings(survivor)
    assert survivor_before <= after
    assert merged_before <= after
    for name, count in counts_before.items():
        assert counts_after[name] >= count
    merged.refresh_from_db()
    assert merged.state == Identity.State.DISABLED and merged.merged_into_id == survivor.id
    assert record.policy == policy and record.merged_identity_id == merged.id


@pytest.fixture
def settings_fixture(settings):
    return settings
