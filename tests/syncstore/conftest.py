"""Devices for the Sync tests: boto3 cognito-sync clients holding an identity's temporary
credentials from GetCredentialsForIdentity."""

from dataclasses import dataclass

import pytest

from tests.conftest import client, temporary_credentials


@dataclass
class Device:
    pool_id: str
    identity_id: str
    sync: object
    credentials: dict

    def list(self, dataset="notes", **kwargs):
        return self.sync.list_records(
            IdentityPoolId=self.pool_id, IdentityId=self.identity_id, DatasetName=dataset, **kwargs
        )

    def update(self, patches, dataset="notes", token=None, **kwargs):
        if token is None:
            token = self.list(dataset)["SyncSessionToken"]
        return self.sync.update_records(
            IdentityPoolId=self.pool_id,
            IdentityId=self.identity_id,
            DatasetName=dataset,
            SyncSessionToken=token,
            RecordPatches=patches,
            **kwargs,
        )

    def put(self, key, value, sync_count=0, dataset="notes"):
        return self.update(
            [{"Op": "replace", "Key": key, "Value": value, "SyncCount": sync_count}], dataset
        )


def new_device(live, anon, pool_id, identity_id=None, **config) -> Device:
    if identity_id is None:
        identity_id = anon.get_id(IdentityPoolId=pool_id)["IdentityId"]
    creds = anon.get_credentials_for_identity(IdentityId=identity_id)["Credentials"]
    sync = client(live, "cognito-sync", temporary_credentials(creds), **config)
    return Device(pool_id, identity_id, sync, creds)


@pytest.fixture
def device(live, anon, guest_pool):
    return new_device(live, anon, guest_pool["IdentityPoolId"])


@pytest.fixture
def second_device(live, anon, device):
    """Another device of the same identity."""
    return new_device(live, anon, device.pool_id, device.identity_id)


@pytest.fixture
def stranger(live, anon, device):
    """A device of another identity of the same pool."""
    return new_device(live, anon, device.pool_id)


@pytest.fixture(scope="session")
def ops_sync(live, operator_keys):
    return client(live, "cognito-sync", operator_keys)
