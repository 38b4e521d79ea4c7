"""Opaque NextTokens: the position of the last item returned, signed so a client can neither
forge nor reuse one across listings."""

from django.core import signing

from aws.errors import InvalidParameter


def next_token(listing: str, last_key: str) -> str:
    return signing.dumps({"after": last_key}, salt=f"cognate.next-token.{listing}")


def position_after(listing: str, token: str | None) -> str | None:
    """The key to continue after, from a NextToken of `listing` (None to start)."""
    if token is None:
        return None
    try:
        return str(signing.loads(token, salt=f"cognate.next-token.{listing}")["after"])
    except (signing.BadSignature, KeyError, TypeError):
        raise InvalidParameter(
            "The NextToken is not valid for this request: pass back the NextToken of the "
            "previous page of the same listing, or omit it to start from the beginning."
        ) from None


def page(
    listing: str, items: list, limit: int, key=lambda item: item.id
) -> tuple[list, str | None]:
    """Given up to limit+1 items, the page to return and the token for the next one."""
    if len(items) > limit:
        items = items[:limit]
        return items, next_token(listing, key(items[-1]))
    return items, None
