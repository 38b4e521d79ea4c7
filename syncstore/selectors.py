"""Reads of sync state, and the one place that decides whether a caller may touch an
identity's data. Another identity's data and data that does not exist answer the same."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.db.models import Count, Max, Sum

from aws.errors import AuthFailure, InvalidParameter, ResourceNotFound
from identity import policies
from identity import selectors as identity_selectors
from identity.callers import Caller
from identity.credentials import Session
from identity.models import AccessKey, Identity, IdentityPool
from syncstore import sql
from syncstore.models import Dataset, PoolSyncConfig

# Operations only developer (operator) credentials may call, and those only an identity's
# own temporary credentials may call (reference §2.3 "Who may call").
DEVELOPER_ONLY = {
    "BulkPublish",
    "GetBulkPublishDetails",
    "GetCognitoEvents",
    "SetCognitoEvents",
    "GetIdentityPoolConfiguration",
    "SetIdentityPoolConfiguration",
    "DescribeIdentityPoolUsage",
    "ListIdentityPoolUsage",
}
IDENTITY_ONLY = {"RegisterDevice", "SubscribeToDataset", "UnsubscribeFromDataset"}
# The Django permission an operator's key needs for each operation.
OPERATOR_PERMISSIONS = {
    "ListRecords": "syncstore.view_dataset",
    "ListDatasets": "syncstore.view_dataset",
    "DescribeDataset": "syncstore.view_dataset",
    "DescribeIdentityUsage": "syncstore.view_dataset",
    "DescribeIdentityPoolUsage": "syncstore.view_dataset",
    "ListIdentityPoolUsage": "syncstore.view_dataset",
    "GetIdentityPoolConfiguration": "identity.view_identitypool",
    "GetCognitoEvents": "identity.view_identitypool",
    "GetBulkPublishDetails": "identity.view_identitypool",
    "UpdateRecords": "syncstore.change_dataset",
    "DeleteDataset": "syncstore.delete_dataset",
    "SetIdentityPoolConfiguration": "identity.change_identitypool",
    "SetCognitoEvents": "identity.change_identitypool",
    "BulkPublish": "identity.change_identitypool",
}


def resource_arn(pool_id: str, identity_id: str | None = None, dataset: str | None = None) -> str:
    """The Cognito Sync ARN policies name: the pool, an identity, or a dataset."""
    arn = (
        f"arn:aws:cognito-sync:{settings.COGNATE_REGION}:{settings.COGNATE_ACCOUNT_ID}:"
        f"identitypool/{pool_id}"
    )
    if identity_id is not None:
        arn += f"/identity/{identity_id}"
        if dataset is not None:
            arn += f"/dataset/{dataset}"
    return arn


def session_may(session: Session, operation: str, resource: str) -> bool:
    """Whether the session's role policy (narrowed by its session policy, if any) allows
    `cognito-sync:<operation>` on `resource`."""
    role = identity_selectors.role_view(session.role_arn)
    if role is None:
        return False
    request = policies.Request(
        action=f"cognito-sync:{operation}",
        resource=resource,
        context={
            "cognito-identity.amazonaws.com:aud": session.pool_id,
            "cognito-identity.amazonaws.com:sub": session.identity_id,
            "cognito-identity.amazonaws.com:amr": session.amr,
            **{f"aws:PrincipalTag/{key}": value for key, value in session.principal_tags.items()},
        },
    )
    if not policies.is_allowed([role.policy], request):
        return False
    return session.session_policy is None or policies.is_allowed([session.session_policy], request)


def _forbidden(caller: Caller, operation: str, resource: str, why: str = "") -> AuthFailure:
    return AuthFailure(
        "forbidden",
        f"User: {caller.arn} is not authorized to perform: cognito-sync:{operation} on "
        f"resource: {resource}{why}",
    )


def operator_for_caller(caller: Caller, operation: str, pool_id: str = "*") -> AccessKey:
    """The caller's operator key, if it holds the permission `operation` needs."""
    resource = resource_arn(pool_id)
    if caller.key is None:
        raise _forbidden(
            caller,
            operation,
            resource,
            ". This operation needs developer credentials (an operator access key).",
        )
    if operation in IDENTITY_ONLY:
        raise _forbidden(
            caller,
            operation,
            resource,
            ". This operation takes an identity's own temporary credentials.",
        )
    permission = OPERATOR_PERMISSIONS[operation]
    if not caller.key.user.has_perm(permission):
        raise _forbidden(
            caller, operation, resource, f". Give the user the Django permission '{permission}'."
        )
    return caller.key


def pool_for_caller(caller: Caller, operation: str, pool_id: str) -> IdentityPool:
    """A pool a developer-only operation may act on."""
    key = operator_for_caller(caller, operation, pool_id)
    return identity_selectors.pool_for_key(key, pool_id)


def identity_for_caller(
    caller: Caller,
    operation: str,
    *,
    pool_id: str,
    identity_id: str,
    dataset_name: str | None = None,
) -> Identity:
    """The identity whose data `operation` touches, if the caller may: its own temporary
    credentials or token (as the role's policy allows), or an operator's key.

    As on AWS, an identity's access is decided from its role's policy and the path before
    anything is looked up: a path the policy does not allow (another identity's, existing or
    not, with the default roles) is `NotAuthorizedException`, whatever is there. Operators
    reach every identity of their pools, and are told when one does not exist."""
    not_found = ResourceNotFound(f"Identity '{identity_id}' not found.")
    resource = resource_arn(pool_id, identity_id, dataset_name)
    session = caller.session
    if session is not None:
        if operation in DEVELOPER_ONLY:
            raise _forbidden(caller, operation, resource, ". It needs developer credentials.")
        if not session_may(session, operation, resource):
            raise _forbidden(caller, operation, resource)
        if (session.identity_id, session.pool_id) == (identity_id, pool_id):
            # The session was opened just now and checked against revocation, which
            # deletion, disabling and merging all set: the identity exists.
            return Identity(id=identity_id, pool_id=pool_id)
    else:
        key = operator_for_caller(caller, operation, pool_id)
        if not identity_selectors.key_reaches_pool(key, pool_id):
            raise not_found
    identity = (
        Identity.objects.filter(id=identity_id, pool_id=pool_id).only("id", "pool_id").first()
    )
    if identity is None:
        raise not_found
    return identity


# --- Datasets and records ---------------------------------------------------------------------
def dataset_get(identity: Identity, name: str) -> Dataset:
    dataset = Dataset.objects.filter(identity=identity, name=name).first()
    if dataset is None or not dataset.exists:
        raise ResourceNotFound(f"Dataset '{name}' of identity '{identity.id}' not found.")
    return dataset


@dataclass(frozen=True)
class Delta:
    """What changed in a dataset after a sync count (one page of it)."""

    exists: bool
    sync_count: int
    deleted_after: bool
    last_modified_by: str
    records: list[sql.RecordRow]
    next_token: str | None


_RECORDS_TOKEN = "cognate.records-page"


def records_delta(
    identity: Identity, name: str, *, after: int, limit: int, page_token: str | None = None
) -> Delta:
    """The records written after sync count `after` (ListRecords and the websocket's pull).
    Every page reports the count the first page saw; records written meanwhile come with the
    next sync, so the pages of one listing are consistent with each other."""
    if after < 0:
        raise InvalidParameter("LastSyncCount cannot be negative.")
    dataset = sql.dataset_state(identity.id, name)
    # The caller's count refers to an incarnation of the dataset that was since deleted.
    deleted_after = bool(
        dataset is not None
        and dataset.deleted_at_count is not None
        and 0 < after <= dataset.deleted_at_count
    )
    if dataset is None or not dataset.exists:
        return Delta(False, 0, deleted_after, "", [], None)
    bound, cursor = dataset.sync_count, None
    if page_token:
        try:
            state = signing.loads(page_token, salt=_RECORDS_TOKEN)
            assert state["d"] == dataset.id and state["a"] == after
            bound, cursor = state["b"], (state["c"], state["k"])
        except (signing.BadSignature, AssertionError, KeyError, TypeError):
            raise InvalidParameter(
                "The NextToken is not valid for this request: pass back the NextToken of the "
                "previous page with the same LastSyncCount, or omit it."
            ) from None
    rows = sql.records_changed(
        dataset.id, after_count=after, up_to_count=bound, cursor_at=cursor, limit=limit + 1
    )
    page, next_token = rows[:limit], None
    if len(rows) > limit:
        last = page[-1]
        next_token = signing.dumps(
            {"d": dataset.id, "a": after, "b": bound, "c": last.sync_count, "k": last.key},
            salt=_RECORDS_TOKEN,
        )
    return Delta(True, bound, deleted_after, dataset.last_modified_by, page, next_token)


def merged_dataset_names(identity: Identity, name: str) -> list[str]:
    """The live datasets a merge made to keep values that met `name`'s (MergedDatasetNames);
    deleting one dismisses it."""
    return list(
        Dataset.objects.filter(identity=identity, merge_root=name, deleted__isnull=True)
        .order_by("name")
        .values_list("name", flat=True)
    )


def datasets_page(identity: Identity, *, after: str | None, limit: int) -> list[Dataset]:
    datasets = Dataset.objects.filter(identity=identity, deleted__isnull=True).order_by("name")
    if after is not None:
        datasets = datasets.filter(name__gt=after)
    return list(datasets[:limit])


@dataclass(frozen=True)
class Usage:
    dataset_count: int
    data_storage: int
    last_modified: datetime | None
    identities_with_data: int = 0


def identity_usage(identity: Identity) -> Usage:
    totals = Dataset.objects.filter(identity=identity, deleted__isnull=True).aggregate(
        count=Count("id"), storage=Sum("data_storage"), modified=Max("modified")
    )
    return Usage(totals["count"], totals["storage"] or 0, totals["modified"])


def pool_usages(pool_ids: Iterable[str]) -> dict[str, Usage]:
    totals = (
        Dataset.objects.filter(identity__pool_id__in=list(pool_ids), deleted__isnull=True)
        .values("identity__pool_id")
        .annotate(
            count=Count("id"),
            storage=Sum("data_storage"),
            modified=Max("modified"),
            identities=Count("identity", distinct=True),
        )
    )
    return {
        row["identity__pool_id"]: Usage(
            row["count"], row["storage"] or 0, row["modified"], row["identities"]
        )
        for row in totals
    }


def sync_config(pool_id: str) -> PoolSyncConfig | None:
    return PoolSyncConfig.objects.filter(pool_id=pool_id).first()


@dataclass(frozen=True)
class SyncConfigView:
    """What every update needs of its pool's Sync configuration."""

    cognito_streams: dict
    events: dict


_NO_CONFIG = SyncConfigView({}, {})
_sync_configs: dict[str, tuple[str | None, SyncConfigView]] = {}


def sync_config_view(pool_id: str) -> SyncConfigView:
    """The pool's Sync configuration, kept in memory until any process changes pool
    configuration (the same generation as identity.selectors: seen within a second)."""
    config_cache = identity_selectors._config
    config_cache.current()
    cached = _sync_configs.get(pool_id)
    if cached is not None and cached[0] == config_cache.generation and cached[0] is not None:
        return cached[1]
    row = sync_config(pool_id)
    view = SyncConfigView(dict(row.cognito_streams), dict(row.events)) if row else _NO_CONFIG
    _sync_configs[pool_id] = (config_cache.generation, view)
    return view


def sync_trigger_target(pool_id: str) -> str | None:
    return sync_config_view(pool_id).events.get("SyncTrigger") or None


def sync_config_forget(pool_id: str | None = None) -> None:
    """Forget this process's copy (of one pool, or all)."""
    if pool_id is None:
        _sync_configs.clear()
    else:
        _sync_configs.pop(pool_id, None)
