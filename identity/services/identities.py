"""Identities' own lifecycle: a new guest, the check that a guest may act unauthenticated,
revoking, disabling and deleting (the rest of the site hears through identity/hooks.py), and
noting when an identity was last used (guest retention counts from it)."""

from contextlib import nullcontext
from datetime import datetime, timedelta
from functools import cache

from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.db.models.fields import AutoFieldMixin
from django.utils import timezone

from aws.errors import NotAuthorized
from identity import credentials, hooks, statements
from identity.credentials import GONE
from identity.models import Identity, Login
from identity.selectors import PoolView
from identity.services.base import moment, new_identity_id

TOUCH_EVERY = timedelta(hours=1)


def identity_create_guest(*, pool: PoolView) -> Identity:
    """A new guest identity (GetId without Logins: a new one on every call)."""
    if not pool.allow_unauthenticated:
        raise NotAuthorized("Unauthenticated access is not supported for this identity pool.")
    # In use from now: its first credentials, moments later, need no write (identity_touch).
    return _inserted(Identity(id=new_identity_id(), pool_id=pool.id, last_used=timezone.now()))


def _inserted(identity: Identity) -> Identity:
    """Insert a new identity with the statement written out: every GetId of a guest does
    it, and the ORM's `create` costs more to build the statement than the database takes to
    run it. Each column's value is prepared by its model field, as `create` prepares it."""
    with statements.cursor() as cursor:
        cursor.execute(_insert_statement(Identity), _values(identity))
    _saved(identity)
    return identity


def identity_with_login_create(*, pool: PoolView, provider: str, subject: str) -> Identity | None:
    """A new authenticated identity with one login (a developer user identifier seen for the
    first time), in use from now: both rows or neither, in one statement on PostgreSQL. None
    if another call linked the login first (the caller finds that identity then)."""
    identity = Identity(
        id=new_identity_id(),
        pool_id=pool.id,
        state=Identity.State.AUTHENTICATED,
        last_used=timezone.now(),
    )
    login = _row(
        Login, pool_id=pool.id, provider=provider, subject=subject, identity_id=identity.id
    )
    together = connection.vendor == "postgresql"
    try:
        # Alone, the one statement is its own transaction; inside another, a savepoint keeps
        # a refused login from spoiling it.
        alone = together and not connection.in_atomic_block
        with nullcontext() if alone else transaction.atomic(), statements.cursor() as cursor:
            if together:
                cursor.execute(_together_statement(), _values(identity) + login)
            else:
                cursor.execute(_insert_statement(Identity), _values(identity))
                cursor.execute(_insert_statement(Login), login)
    except IntegrityError:
        return None
    _saved(identity)
    return identity


def _values(instance: Model) -> list:
    return [
        field.get_db_prep_save(field.pre_save(instance, True), connection)
        for field in _columns(type(instance))
    ]


def _row(model: type[Model], **given) -> list:
    """The values of a new row of `model` with the given attributes (the others' defaults),
    prepared by each field, without making a model instance."""
    return [
        field.get_db_prep_save(
            given[field.attname] if field.attname in given else field.get_default(), connection
        )
        for field in _columns(model)
    ]


def _saved(instance: Model) -> None:
    instance._state.adding, instance._state.db = False, connection.alias


def _columns(model: type[Model]) -> list:
    """The columns an insert writes: every concrete field but a generated primary key."""
    return [f for f in model._meta.concrete_fields if not isinstance(f, AutoFieldMixin)]


@cache
def _insert_statement(model: type[Model]) -> str:
    """The model's own table and columns, every value a bound parameter."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in _columns(model))
    marks = ", ".join(["%s"] * len(_columns(model)))
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608


@cache
def _together_statement() -> str:
    """An identity and its login in one statement (the login's insert reads the identity's)."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in _columns(Login))
    marks = ", ".join(["%s"] * len(_columns(Login)))
    return (
        f"WITH made AS ({_insert_statement(Identity)} RETURNING 1) "  # noqa: S608
        f"INSERT INTO {quote(Login._meta.db_table)} ({columns}) SELECT {marks} FROM made"
    )


def identity_check_guest_access(identity: Identity, pool: PoolView) -> None:
    """Refuse unauthenticated use of anything but a live guest of a pool that allows them."""
    if identity.state != Identity.State.GUEST:
        raise NotAuthorized(f"Access to Identity '{identity.id}' is forbidden.")
    if not pool.allow_unauthenticated:
        raise NotAuthorized("Unauthenticated access is not supported for this identity pool.")


@transaction.atomic
def identity_revoke_credentials(
    *, identity: Identity, now: float | None = None, reason: str | None = "revoked"
) -> None:
    """Refuse every credential and token issued to the identity until now; its open sockets
    are closed."""
    at = moment(now)
    Identity.objects.filter(pk=identity.pk).update(credentials_not_before=at, modified=at)
    identity.credentials_not_before = at
    transaction.on_commit(
        lambda: credentials.revocation_remember(identity_id=identity.id, not_before=at.timestamp())
    )
    if reason is not None:
        hooks.revoked(identity_id=identity.id, reason=reason)


@transaction.atomic
def identity_disable(*, identity: Identity, now: float | None = None) -> None:
    Identity.objects.filter(pk=identity.pk).update(state=Identity.State.DISABLED)
    identity.state = Identity.State.DISABLED
    identity_revoke_credentials(identity=identity, now=now, reason="disabled")


@transaction.atomic
def identities_delete(*, identities: list[Identity]) -> None:
    """Delete identities with their logins and data; their credentials stop working."""
    ids = [identity.id for identity in identities]
    Identity.objects.filter(id__in=ids).delete()
    hooks.deleted(identity_ids=ids)

    def remember() -> None:
        for identity_id in ids:
            credentials.revocation_remember(identity_id=identity_id, not_before=GONE)

    transaction.on_commit(remember)


def identity_touch(identity: Identity, *, at: datetime | None = None) -> None:
    """Remember that the identity is in use (one write an hour at most): guest retention
    counts from it."""
    at = at or timezone.now()
    if identity.last_used is None or at - identity.last_used >= TOUCH_EVERY:
        Identity.objects.filter(pk=identity.pk).update(last_used=at)
        identity.last_used = at
