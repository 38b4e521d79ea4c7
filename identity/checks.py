"""System checks for settings that would otherwise only fail later."""

from urllib.parse import urlsplit

import regex
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.core.exceptions import ImproperlyConfigured

from identity import hooks, outbound

_REGION = regex.compile(r"[a-z]{2}(-[a-z]+)+-\d")
LOCAL_HOSTS = ("127.0.0.1", "localhost")


@register()
def cognate_settings(app_configs, **kwargs):
    problems: list[CheckMessage] = []
    if not _REGION.fullmatch(settings.COGNATE_REGION):
        problems.append(
            Error(
                f"COGNATE_REGION {settings.COGNATE_REGION!r} is not an AWS region name.",
                hint="Use a region such as us-east-1; ids and SDK clients depend on it.",
                id="cognate.E001",
            )
        )
    if not regex.fullmatch(r"\d{12}", settings.COGNATE_ACCOUNT_ID):
        problems.append(
            Error(
                "COGNATE_ACCOUNT_ID must be 12 digits.",
                hint="It appears in every ARN this server hands out.",
                id="cognate.E002",
            )
        )
    issuer = urlsplit(settings.COGNATE_ISSUER_URL)
    if issuer.scheme not in ("http", "https") or not issuer.netloc or issuer.query:
        problems.append(
            Error(
                f"COGNATE_ISSUER_URL {settings.COGNATE_ISSUER_URL!r} is not an http(s) URL.",
                hint="Set it to this server's public base URL, e.g. https://id.example.com.",
                id="cognate.E003",
            )
        )
    elif issuer.scheme == "http" and not settings.DEBUG and issuer.hostname not in LOCAL_HOSTS:
        problems.append(
            Warning(
                "COGNATE_ISSUER_URL uses http:// for a public host.",
                hint="OpenID tokens should be issued under https:// in production.",
                id="cognate.W001",
            )
        )
    if settings.COGNATE_CREDENTIALS_LIFETIME not in range(900, 43201):
        problems.append(
            Error(
                "COGNATE_CREDENTIALS_LIFETIME must be between 900 and 43200 seconds.",
                id="cognate.E004",
            )
        )
    for kind in ("RATE", "BURST", "POOL"):
        limit = getattr(settings, f"COGNATE_GUEST_{kind}_LIMIT")
        window = getattr(settings, f"COGNATE_GUEST_{kind}_WINDOW")
        if limit < 0 or window < 1:
            problems.append(
                Error(
                    f"COGNATE_GUEST_{kind}_LIMIT must be 0 or more and "
                    f"COGNATE_GUEST_{kind}_WINDOW 1 second or more.",
                    hint="They limit how many new guests a client address or a pool may get.",
                    id="cognate.E005",
                )
            )
    if settings.COGNATE_TRUSTED_PROXY_HOPS < 0:
        problems.append(
            Error(
                "COGNATE_TRUSTED_PROXY_HOPS must be 0 or more.",
                hint="Set it to the number of reverse proxies in front of the servers.",
                id="cognate.E006",
            )
        )
    return problems


# Operator settings naming URLs the server fetches (IAM-registered issuers and webhooks are
# checked when they are registered).
PROVIDER_ENDPOINTS = (
    "COGNATE_GOOGLE_ISSUER",
    "COGNATE_APPLE_ISSUER",
    "COGNATE_FACEBOOK_GRAPH_URL",
    "COGNATE_AMAZON_TOKENINFO_URL",
    "COGNATE_TWITTER_VERIFY_URL",
)


@register()
def outbound_settings(app_configs, **kwargs):
    """Internal addresses allowed for outbound fetches (never in production), or a provider
    endpoint on one while they are refused (every sign-in through it would fail)."""
    problems: list[CheckMessage] = []
    if outbound.allowed_private():
        problems.append(
            Warning(
                f"{outbound.SETTING} is set: OpenID Connect discovery and keys, the login "
                "providers' endpoints and Sync Trigger webhooks may be fetched from loopback, "
                "private, link-local and cloud metadata addresses.",
                hint="For local development and tests only; production must not set it (nor "
                f"its older name {outbound.OLDER_SETTING}).",
                id="cognate.W010",
            )
        )
        return problems
    endpoints = [(name, getattr(settings, name)) for name in PROVIDER_ENDPOINTS]
    endpoints += _social_endpoints()
    for name, url in endpoints:
        why = outbound.refusal(url, resolve=False)
        if why:
            problems.append(
                Warning(
                    f"{name} is refused: {why}.",
                    hint="Every sign-in through it will fail; point it at the provider's "
                    "public endpoint.",
                    id="cognate.W011",
                )
            )
    return problems


def _social_endpoints() -> list[tuple[str, str]]:
    """The discovery URLs of the site's social sign-in (django-allauth's OpenID Connect
    apps, SOCIAL_OIDC_SERVER_URL)."""
    apps = settings.SOCIALACCOUNT_PROVIDERS.get("openid_connect", {}).get("APPS", [])
    return [
        (f"The server_url of social app {app.get('provider_id', '?')}", url)
        for app in apps
        if (url := app.get("settings", {}).get("server_url"))
    ]


@register()
def identity_hooks(app_configs, **kwargs):
    """Every hook named in COGNATE_IDENTITY_HOOKS can be imported and keeps the contract (else
    the first merge, revocation or deletion would fail)."""
    problems: list[CheckMessage] = []
    for path in getattr(settings, hooks.SETTING):
        try:
            hooks.load(path)
        except ImproperlyConfigured as error:
            problems.append(
                Error(
                    str(error),
                    hint=f"{hooks.SETTING} lists dotted paths of identity.hooks.IdentityHooks "
                    "subclasses, such as syncstore.hooks.DataHooks.",
                    id="cognate.E007",
                )
            )
    return problems
