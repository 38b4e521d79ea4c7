"""Login providers: one module each, one contract (`base.Provider`), tried in the order of
the COGNATE_LOGIN_PROVIDERS setting. `verify_login` is the way in."""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from aws.errors import AwsError, NotAuthorized
from identity.providers.base import (
    LoginRejected,
    Provider,
    ProviderUnavailable,
    VerifiedLogin,
)
from identity.selectors import PoolView

__all__ = ["ExternalServiceError", "VerifiedLogin", "provider_for", "verify_login"]


class ExternalServiceError(AwsError):
    """A provider did not answer (Cognito's ExternalServiceException)."""

    code = "ExternalServiceException"
    query_code = "IDPCommunicationError"


@cache
def _providers(paths: tuple[str, ...]) -> list[Provider]:
    return [import_string(path)() for path in paths]


def providers() -> list[Provider]:
    return _providers(tuple(settings.COGNATE_LOGIN_PROVIDERS))


def provider_for(key: str, pool: PoolView) -> Provider | None:
    """The provider that verifies tokens of the Logins key `key` for `pool`, if the pool
    trusts one."""
    return next((p for p in providers() if p.handles(key, pool)), None)


def verify_login(key: str, token: str, pool: PoolView) -> VerifiedLogin:
    """Verify one Logins entry for the pool; NotAuthorizedException if the token is not
    good, ExternalServiceException if the provider does not answer."""
    provider = provider_for(key, pool)
    if provider is None:
        raise NotAuthorized("Token is not from a supported provider of this identity pool.")
    try:
        return provider.verify(key, token, pool)
    except LoginRejected as rejected:
        raise NotAuthorized(rejected.message) from None
    except ProviderUnavailable as down:
        raise ExternalServiceError(down.message) from None
