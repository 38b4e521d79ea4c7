"""A cursor for the statements written out for the hottest calls (an identity by id or by
login, a new guest, a new developer user).

On PostgreSQL it binds values on the server, as `syncstore/sql.py`'s update does: psycopg
prepares a statement the fifth time a connection runs it, and from then on the database
plans it once per connection instead of on every call (Django's own cursors bind on the
client, so every statement is parsed and planned again). Errors are raised as Django's, as
from its cursors. A connection pooler in transaction mode must support prepared statements
(PgBouncer 1.21 and later with `max_prepared_statements`); docs/operations.md.
"""

import contextlib
from collections.abc import Iterator

import psycopg
from django.db import connection


@contextlib.contextmanager
def cursor() -> Iterator:
    if connection.vendor != "postgresql":
        with connection.cursor() as django_cursor:
            yield django_cursor
        return
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as bound:
        yield bound
