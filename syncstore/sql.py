"""The statements of the sync hot path (UpdateRecords and ListRecords), written out.

On the reference machine the ORM spent about 1.5 ms building each query against 0.5 ms for
the database to answer it, three quarters of an update (docs/benchmarks.md). These few
statements are plain SQL that PostgreSQL and SQLite both run (`ON CONFLICT` upserts;
`FOR UPDATE` only where the database has it: SQLite serialises writers instead). Every
other read and write goes through the ORM. Values pass through `to_stored`/`from_stored`
here as `Record.value` does in the ORM.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from django.db import connection

from syncstore.models import Dataset, Record, from_stored, to_stored

DATASET = Dataset._meta.db_table
RECORD = Record._meta.db_table


@dataclass(frozen=True)
class DatasetState:
    id: int
    sync_count: int
    data_storage: int
    record_count: int
    exists: bool
    deleted_at_count: int | None
    last_modified_by: str


@dataclass(frozen=True)
class RecordRow:
    key: str
    value: str | None
    sync_count: int
    modified: datetime
    modified_by: str
    device_modified: datetime | None


def _aware(value) -> datetime:
    """A datetime as the database returned it (SQLite: naive UTC text) made aware."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _db_time(value: datetime | None):
    return connection.ops.adapt_datetimefield_value(value)


def dataset_state(identity_id: str, name: str, *, lock: bool = False) -> DatasetState | None:
    """The dataset's row (deleted or not), locked for the transaction when `lock`."""
    suffix = " FOR UPDATE" if lock and connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, sync_count, data_storage, record_count, deleted, deleted_at_count, "
            f"last_modified_by FROM {DATASET} WHERE identity_id = %s AND name = %s{suffix}",
            [identity_id, name],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return DatasetState(row[0], row[1], row[2], row[3], row[4] is None, row[5], row[6])


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


def records_current(dataset_id: int, keys: list[str]) -> dict[str, tuple[int, str | None]]:
    """The current sync count and value of the given keys that exist (tombstones too)."""
    if not keys:
        return {}
    params: list
    if _postgresql():  # one array parameter instead of one parameter per key
        where, params = '"key" = ANY(%s)', [keys]
    else:
        where, params = f'"key" IN ({", ".join(["%s"] * len(keys))})', keys
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT "key", sync_count, "value" FROM {RECORD} WHERE dataset_id = %s AND {where}',
            [dataset_id, *params],
        )
        return {key: (count, from_stored(value)) for key, count, value in cursor.fetchall()}


_UPSERT = (
    'ON CONFLICT (dataset_id, "key") DO UPDATE SET "value" = excluded."value", '
    "sync_count = excluded.sync_count, modified = excluded.modified, "
    "modified_by = excluded.modified_by, device_modified = excluded.device_modified"
)
_COLUMNS = '(dataset_id, "key", "value", sync_count, modified, modified_by, device_modified)'


def update_write(
    dataset_id: int,
    rows: list[RecordRow],
    *,
    sync_count: int,
    modified: datetime,
    modified_by: str,
    data_storage: int,
    record_count: int,
) -> None:
    """Insert or overwrite an update's records and set the dataset's new count and figures:
    on PostgreSQL in one statement (the dataset's row is locked, so every round trip saved
    is time other updates of it do not wait)."""
    dataset_set = (
        f"UPDATE {DATASET} SET sync_count = %s, modified = %s, last_modified_by = %s, "
        "data_storage = %s, record_count = %s WHERE id = %s"
    )
    dataset_params: list = [
        sync_count,
        modified,
        modified_by,
        data_storage,
        record_count,
        dataset_id,
    ]
    if _postgresql():
        # One array per column rather than seven parameters per row, bound on the server:
        # psycopg's client-side quoting of thousand-element arrays costs more than the insert.
        arrays = [
            [row.key for row in rows],
            [to_stored(row.value) for row in rows],
            [row.sync_count for row in rows],
            [row.modified for row in rows],
            [row.modified_by for row in rows],
            [row.device_modified for row in rows],
        ]
        server_side = psycopg.Cursor(connection.connection)
        server_side.execute(
            f"WITH written AS (INSERT INTO {RECORD} {_COLUMNS} SELECT %s, * FROM unnest("
            "%s::text[], %s::text[], %s::bigint[], %s::timestamptz[], %s::text[], "
            f"%s::timestamptz[]) {_UPSERT}) {dataset_set}",
            [dataset_id, *arrays, *dataset_params],
        )
        server_side.close()
        return
    _records_write_sqlite(dataset_id, rows)
    dataset_params[1] = _db_time(modified)
    with connection.cursor() as cursor:
        cursor.execute(dataset_set, dataset_params)


def _records_write_sqlite(dataset_id: int, rows: list[RecordRow]) -> None:
    if not rows:
        return
    adapted: dict[object, object] = {}  # rows of one update share their times

    def db_time(value):
        if value not in adapted:
            adapted[value] = _db_time(value)
        return adapted[value]

    params: list = []
    for row in rows:
        params += [
            dataset_id,
            row.key,
            to_stored(row.value),
            row.sync_count,
            db_time(row.modified),
            row.modified_by,
            db_time(row.device_modified),
        ]
    marks = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {RECORD} {_COLUMNS} VALUES {marks} {_UPSERT}", params)


def records_changed(
    dataset_id: int,
    *,
    after_count: int,
    up_to_count: int,
    cursor_at: tuple[int, str] | None,
    limit: int,
) -> list[RecordRow]:
    """Records written after `after_count` and up to `up_to_count`, tombstones included,
    in (sync count, key) order, starting after `cursor_at`."""
    where = "dataset_id = %s AND sync_count > %s AND sync_count <= %s"
    params: list = [dataset_id, after_count, up_to_count]
    if cursor_at is not None:
        where += ' AND (sync_count > %s OR (sync_count = %s AND "key" > %s))'
        params += [cursor_at[0], cursor_at[0], cursor_at[1]]
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT "key", "value", sync_count, modified, modified_by, device_modified '
            f'FROM {RECORD} WHERE {where} ORDER BY sync_count, "key" LIMIT %s',
            [*params, limit],
        )
        return [
            RecordRow(
                key, from_stored(value), count, _aware(modified), by, device and _aware(device)
            )
            for key, value, count, modified, by, device in cursor.fetchall()
        ]


def live_records(dataset_id: int, *, times: bool = False) -> list[tuple[str, str, float]]:
    """Every live record of a dataset: (key, value, when it was written in epoch seconds:
    by the device's clock when known, else the server's; 0 unless `times` is asked for)."""
    written = "0"
    if times:  # as a number: parsing thousands of timestamps costs more than the query
        column = "COALESCE(device_modified, modified)"
        written = (
            f"EXTRACT(EPOCH FROM {column})::float8"
            if _postgresql()
            else f"(julianday({column}) - 2440587.5) * 86400.0"
        )
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT "key", "value", {written} FROM {RECORD} '
            'WHERE dataset_id = %s AND "value" IS NOT NULL',
            [dataset_id],
        )
        return [(key, from_stored(value), float(when)) for key, value, when in cursor.fetchall()]
