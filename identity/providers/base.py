"""The contract every login provider meets, and the HTTP helper they share (every call has a
timeout; a provider that does not answer is `ProviderUnavailable`, never a 500)."""

from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings

from identity.selectors import PoolView


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


def get_json(provider: str, url: str, **kwargs) -> tuple[int, Any]:
    """GET a provider's JSON endpoint: (status, body) for any answer the provider gave,
    ProviderUnavailable when it gave none (or a server error)."""
    try:
        response = requests.get(url, timeout=settings.COGNATE_PROVIDER_TIMEOUT, **kwargs)
    except requests.RequestException as error:
        raise ProviderUnavailable(
            f"{provider} is not responding ({error.__class__.__name__}); try again later."
        ) from None
    if response.status_code >= 500:
        raise ProviderUnavailable(
            f"{provider} answered with an error ({response.status_code}); try again later."
        )
    try:
        body = response.json()
    except ValueError:
        raise ProviderUnavailable(f"{provider} answered with something that is not JSON.") from None
    return response.status_code, body
