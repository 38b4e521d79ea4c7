"""The Cognito Sync operations: check who may call, call a service or a selector, shape the
answer (reference §2.3, §2.4)."""

import functools
from typing import Any

from aws import pagination, registry
from aws.errors import InvalidParameter
from aws.render import epoch
from identity import selectors as identity_selectors
from identity.auth import Caller, authenticate
from syncstore import selectors, services, streams
from syncstore.sessions import sync_session_check, sync_session_token
from syncstore.shapes import dataset_shape, record_shape

SERVICE = registry.service(
    "cognito-sync", authenticate=functools.partial(authenticate, allow_bearer=True)
)
operation = SERVICE.operation

MAX_RECORDS_PER_PAGE = 1024
MAX_DATASETS_PER_PAGE = 64
MAX_POOLS_PER_PAGE = 60


def _identity(caller: Caller, name: str, params: dict, *, dataset: bool = False):
    return selectors.identity_for_caller(
        caller,
        name,
        pool_id=params["IdentityPoolId"],
        identity_id=params["IdentityId"],
        dataset_name=params.get("DatasetName") if dataset else None,
    )


def _modified_by(caller: Caller, params: dict) -> str:
    """LastModifiedBy: the device when the update names one, else who made it."""
    if params.get("DeviceId"):
        return params["DeviceId"]
    if caller.session is not None:
        return caller.session.identity_id
    assert caller.key is not None
    return f"operator:{caller.key.user.get_username()}"


def _page_size(params: dict, default: int, largest: int) -> int:
    size = params.get("MaxResults", default)
    if not 1 <= size <= largest:
        raise InvalidParameter(f"MaxResults must be between 1 and {largest}, not {size}.")
    return size


# --- Shapes -----------------------------------------------------------------------------------
# --- Records ----------------------------------------------------------------------------------
@operation("ListRecords")
def list_records(caller, params):
    identity = _identity(caller, "ListRecords", params, dataset=True)
    name = params["DatasetName"]
    delta = selectors.records_delta(
        identity,
        name,
        after=params.get("LastSyncCount", 0),
        limit=_page_size(params, MAX_RECORDS_PER_PAGE, MAX_RECORDS_PER_PAGE),
        page_token=params.get("NextToken"),
    )
    out: dict[str, Any] = {
        "Records": [record_shape(row) for row in delta.records],
        "Count": len(delta.records),
        "DatasetSyncCount": delta.sync_count,
        "DatasetExists": delta.exists,
        "DatasetDeletedAfterRequestedSyncCount": delta.deleted_after,
        "SyncSessionToken": sync_session_token(
            pool_id=identity.pool_id, identity_id=identity.id, dataset_name=name
        ),
    }
    if delta.exists:
        out["LastModifiedBy"] = delta.last_modified_by
    merged = selectors.merged_dataset_names(identity, name)
    if merged:
        out["MergedDatasetNames"] = merged
    if delta.next_token:
        out["NextToken"] = delta.next_token
    return out


@operation("UpdateRecords")
def update_records(caller, params):
    identity = _identity(caller, "UpdateRecords", params, dataset=True)
    name = params["DatasetName"]
    sync_session_check(
        params["SyncSessionToken"],
        pool_id=identity.pool_id,
        identity_id=identity.id,
        dataset_name=name,
    )
    update = services.records_update(
        identity=identity,
        dataset_name=name,
        patches=services.record_patches(params.get("RecordPatches", [])),
        modified_by=_modified_by(caller, params),
        # Sync Triggers run for an identity's own updates, not an operator's (reference §3.10).
        trigger=caller.session is not None,
    )
    return {"Records": [record_shape(record) for record in update.records]}


# --- Datasets ---------------------------------------------------------------------------------
@operation("ListDatasets")
def list_datasets(caller, params):
    identity = _identity(caller, "ListDatasets", params)
    limit = _page_size(params, MAX_DATASETS_PER_PAGE, MAX_DATASETS_PER_PAGE)
    listing = f"datasets.{identity.id}"
    after = pagination.position_after(listing, params.get("NextToken"))
    datasets, token = pagination.page(
        listing,
        selectors.datasets_page(identity, after=after, limit=limit + 1),
        limit,
        key=lambda dataset: dataset.name,
    )
    out: dict[str, Any] = {
        "Datasets": [dataset_shape(d) for d in datasets],
        "Count": len(datasets),
    }
    if token:
        out["NextToken"] = token
    return out


@operation("DescribeDataset")
def describe_dataset(caller, params):
    identity = _identity(caller, "DescribeDataset", params, dataset=True)
    return {"Dataset": dataset_shape(selectors.dataset_get(identity, params["DatasetName"]))}


@operation("DeleteDataset")
def delete_dataset(caller, params):
    identity = _identity(caller, "DeleteDataset", params, dataset=True)
    deleted = services.dataset_delete(identity=identity, dataset_name=params["DatasetName"])
    return {"Dataset": dataset_shape(deleted)}


# --- Usage ------------------------------------------------------------------------------------
@operation("DescribeIdentityUsage")
def describe_identity_usage(caller, params):
    identity = _identity(caller, "DescribeIdentityUsage", params)
    usage = selectors.identity_usage(identity)
    out: dict[str, Any] = {
        "IdentityId": identity.id,
        "IdentityPoolId": identity.pool_id,
        "DatasetCount": usage.dataset_count,
        "DataStorage": usage.data_storage,
    }
    if usage.last_modified is not None:
        out["LastModifiedDate"] = epoch(usage.last_modified)
    return {"IdentityUsage": out}


def _pool_usage(pool_id: str, usage) -> dict:
    out: dict[str, Any] = {
        "IdentityPoolId": pool_id,
        "SyncSessionsCount": usage.identities_with_data if usage else 0,
        "DataStorage": usage.data_storage if usage else 0,
    }
    if usage and usage.last_modified is not None:
        out["LastModifiedDate"] = epoch(usage.last_modified)
    return out


@operation("DescribeIdentityPoolUsage")
def describe_identity_pool_usage(caller, params):
    pool = selectors.pool_for_caller(caller, "DescribeIdentityPoolUsage", params["IdentityPoolId"])
    usage = selectors.pool_usages([pool.id]).get(pool.id)
    return {"IdentityPoolUsage": _pool_usage(pool.id, usage)}


@operation("ListIdentityPoolUsage")
def list_identity_pool_usage(caller, params):
    key = selectors.operator_for_caller(caller, "ListIdentityPoolUsage")
    limit = _page_size(params, MAX_POOLS_PER_PAGE, MAX_POOLS_PER_PAGE)
    after = pagination.position_after("pool-usage", params.get("NextToken"))
    pools, token = pagination.page(
        "pool-usage",
        identity_selectors.pools_page(key, after=after, limit=limit + 1),
        limit,
    )
    usages = selectors.pool_usages([pool.id for pool in pools])
    out: dict[str, Any] = {
        "IdentityPoolUsages": [_pool_usage(pool.id, usages.get(pool.id)) for pool in pools],
        "MaxResults": limit,
        "Count": len(pools),
    }
    if token:
        out["NextToken"] = token
    return out


# --- Pool configuration -----------------------------------------------------------------------
def _configuration(pool_id: str) -> dict:
    config = selectors.sync_config(pool_id)
    out: dict[str, Any] = {"IdentityPoolId": pool_id}
    if config is not None and config.push_sync:
        out["PushSync"] = config.push_sync
    if config is not None and config.cognito_streams:
        out["CognitoStreams"] = config.cognito_streams
    return out


@operation("GetIdentityPoolConfiguration")
def get_identity_pool_configuration(caller, params):
    pool = selectors.pool_for_caller(
        caller, "GetIdentityPoolConfiguration", params["IdentityPoolId"]
    )
    return _configuration(pool.id)


@operation("SetIdentityPoolConfiguration")
def set_identity_pool_configuration(caller, params):
    pool = selectors.pool_for_caller(
        caller, "SetIdentityPoolConfiguration", params["IdentityPoolId"]
    )
    services.sync_config_set(
        pool_id=pool.id,
        push_sync=params.get("PushSync"),
        cognito_streams=params.get("CognitoStreams"),
    )
    return _configuration(pool.id)


@operation("GetCognitoEvents")
def get_cognito_events(caller, params):
    pool = selectors.pool_for_caller(caller, "GetCognitoEvents", params["IdentityPoolId"])
    config = selectors.sync_config(pool.id)
    return {"Events": config.events if config else {}}


@operation("SetCognitoEvents")
def set_cognito_events(caller, params):
    pool = selectors.pool_for_caller(caller, "SetCognitoEvents", params["IdentityPoolId"])
    services.events_set(pool_id=pool.id, events=params["Events"])
    return {}


@operation("BulkPublish")
def bulk_publish(caller, params):
    pool = selectors.pool_for_caller(caller, "BulkPublish", params["IdentityPoolId"])
    streams.bulk_publish_request(pool_id=pool.id)
    return {"IdentityPoolId": pool.id}


@operation("GetBulkPublishDetails")
def get_bulk_publish_details(caller, params):
    pool = selectors.pool_for_caller(caller, "GetBulkPublishDetails", params["IdentityPoolId"])
    job = streams.bulk_publish_latest(pool.id)
    out: dict[str, Any] = {"IdentityPoolId": pool.id, "BulkPublishStatus": "NOT_STARTED"}
    if job is None:
        return out
    out["BulkPublishStatus"] = job.status
    if job.started is not None:
        out["BulkPublishStartTime"] = epoch(job.started)
    if job.completed is not None:
        out["BulkPublishCompleteTime"] = epoch(job.completed)
    if job.failure_message:
        out["FailureMessage"] = job.failure_message
    return out


# --- Devices and subscriptions ----------------------------------------------------------------
@operation("RegisterDevice")
def register_device(caller, params):
    identity = _identity(caller, "RegisterDevice", params)
    device = services.device_register(
        identity=identity, platform=params["Platform"], token=params["Token"]
    )
    return {"DeviceId": device.device_id}


@operation("SubscribeToDataset")
def subscribe_to_dataset(caller, params):
    identity = _identity(caller, "SubscribeToDataset", params, dataset=True)
    services.subscription_add(
        identity=identity, device_id=params["DeviceId"], dataset_name=params["DatasetName"]
    )
    return {}


@operation("UnsubscribeFromDataset")
def unsubscribe_from_dataset(caller, params):
    identity = _identity(caller, "UnsubscribeFromDataset", params, dataset=True)
    services.subscription_remove(
        identity=identity, device_id=params["DeviceId"], dataset_name=params["DatasetName"]
    )
    return {}
