"""People and data for the operator's tests, all made through the services."""

import pytest

from identity import selectors, services
from identity.providers import VerifiedLogin
from syncstore import services as sync_services


def write(identity, dataset: str, values: dict, *, counts: dict | None = None):
    """One update of `dataset`: each key set (or removed, for None) from its current count."""
    patches = [
        sync_services.Patch(
            key=key,
            op="remove" if value is None else "replace",
            value=value,
            sync_count=(counts or {}).get(key, 0),
        )
        for key, value in values.items()
    ]
    return sync_services.records_update(
        identity=identity, dataset_name=dataset, patches=patches, modified_by="ops-test"
    )


def sign_in(pool, identity, provider: str, subject: str):
    return services.identity_sign_in(
        pool=selectors.pool_view(pool.id),
        logins=[VerifiedLogin(provider=provider, subject=subject)],
        identity_id=identity.id if identity else None,
        trigger="test",
        trusted=True,
    )


@pytest.fixture
def pool():
    return services.pool_create(
        name="Ops pool", allow_unauthenticated=True, developer_provider_name="login.ops.example"
    )


@pytest.fixture
def guest(pool):
    return services.identity_create_guest(pool=selectors.pool_view(pool.id))


@pytest.fixture
def new_guest(pool):
    return lambda: services.identity_create_guest(pool=selectors.pool_view(pool.id))
