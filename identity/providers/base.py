"""The contract every login provider meets, and the HTTP helper they share (every call goes
through `identity.outbound`, with its address checks and bounds; a provider that does not
answer is `ProviderUnavailable`, one that answers unusably `LoginRejected`, never a 500)."""

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from identity import outbound
from identity.selectors import PoolView

# Providers' answers (token info, discovery documents, key sets) are small; more than this
# is refused, as is a chain of more redirects (each within the same origin) than this.
MAX_ANSWER_BYTES = 256 * 1024
MAX_REDIRECTS = 3


@dataclass(frozen=True)
class VerifiedLogin:
    """A login whose token checked out: the Logins key, the provider's stable user id, the
    token's claims (for role mapping rules), and, for this server's own tokens, the
    identity the token was issued to."""

    provider: str
    subject: str
    claims: dict[str, Any] = field(default_factory=dict)
    identity_id: str | None = None


class LoginRejected(Exception):
    """The token is not a valid login for this pool (NotAuthorizedException)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ProviderUnavailable(Exception):
    """The provider could not be asked (ExternalServiceException)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Provider:
    """One login provider."""

    #: The Logins key this provider answers to (None: decided per pool by `handles`).
    key: str | None = None
    #: What the provider is called in messages.
    name = "provider"

    def handles(self, key: str, pool: PoolView) -> bool:
        """Whether this provider verifies tokens of `key` for `pool` (the pool trusts it)."""
        return key == self.key and key in pool.supported_login_providers

    def configured_ids(self, pool: PoolView) -> list[str]:
        """The app or client ids the pool accepts for this provider (comma-separated in
        SupportedLoginProviders)."""
        value = pool.supported_login_providers.get(self.key or "", "")
        return [part.strip() for part in value.split(",") if part.strip()]

    def verify(self, key: str, token: str, pool: PoolView) -> VerifiedLogin:
        raise NotImplementedError


def get_json(
    provider: str,
    url: str,
    *,
    params: dict[str, str] | None = None,
    auth: Any = None,
    allow_private: bool | None = None,
) -> tuple[int, Any]:
    """GET a provider's JSON endpoint (through `identity.outbound`): (status, body) for any
    answer the provider gave. A provider that cannot be reached or answers with a server
    error is ProviderUnavailable (worth trying again); one whose address is refused or whose
    answer is too slow, too large or not JSON is LoginRejected, naming it and saying why."""
    try:
        answer = outbound.fetch(
            "GET",
            url,
            params=params,
            auth=auth,
            headers={"Accept": "application/json"},
            timeout=settings.COGNATE_PROVIDER_TIMEOUT,
            max_bytes=MAX_ANSWER_BYTES,
            redirects=MAX_REDIRECTS,
            allow_private=allow_private,
        )
    except outbound.Unreachable as error:
        raise ProviderUnavailable(
            f"{provider} is not responding: {error.message}; try again later."
        ) from None
    except outbound.Refused as error:
        raise LoginRejected(f"{provider} cannot be asked: {error.message}.") from None
    except (outbound.TimedOut, outbound.TooLarge) as error:
        raise LoginRejected(f"{provider} gave no usable answer: {error.message}.") from None
    if answer.status >= 500:
        raise ProviderUnavailable(
            f"{provider} answered with an error ({answer.status}); try again later."
        )
    try:
        body = answer.json()
    except ValueError:
        raise LoginRejected(
            f"{provider} gave no usable answer: {url} answered with something that is not JSON."
        ) from None
    return answer.status, body
