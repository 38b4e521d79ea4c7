"""SyncSessionTokens: signed, bound to (pool, identity, dataset), valid for
SYNC_SESSION_TOKEN_LIFETIME seconds and reusable within it (reference §2.4)."""

from django.conf import settings
from django.core import signing

from aws.errors import InvalidParameter

_SALT = "cognate.sync-session"


def sync_session_token(*, pool_id: str, identity_id: str, dataset_name: str) -> str:
    return signing.dumps([pool_id, identity_id, dataset_name], salt=_SALT)


def sync_session_check(token: str, *, pool_id: str, identity_id: str, dataset_name: str) -> None:
    """Refuse a token that was not issued by ListRecords of this dataset, or has expired."""
    try:
        bound = signing.loads(token, salt=_SALT, max_age=settings.SYNC_SESSION_TOKEN_LIFETIME)
    except signing.SignatureExpired:
        raise InvalidParameter(
            "SyncSessionToken has expired: call ListRecords again for a new one."
        ) from None
    except signing.BadSignature:
        bound = None
    if bound != [pool_id, identity_id, dataset_name]:
        raise InvalidParameter("SyncSessionToken not valid for these inputs")
