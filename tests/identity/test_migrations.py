"""Migrations keep what operators configured."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from identity.models import IdentityPool

BEFORE = [("identity", "0004_retention")]
AFTER = [("identity", "0005_allow_classic_flow_unset")]


@pytest.mark.django_db(transaction=True)
def test_existing_pools_keep_their_classic_flow_when_it_becomes_three_valued():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("identity", "IdentityPool")
    old.objects.create(
        id="us-east-1:00000000-0000-4000-8000-0000000000a1", name="on", allow_classic_flow=True
    )
    old.objects.create(
        id="us-east-1:00000000-0000-4000-8000-0000000000a2", name="off", allow_classic_flow=False
    )

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    kept = dict(IdentityPool.objects.values_list("name", "allow_classic_flow"))
    assert kept == {"on": True, "off": False}
    fresh = IdentityPool.objects.create(id="us-east-1:00000000-0000-4000-8000-0000000000a3")
    assert fresh.allow_classic_flow is None
