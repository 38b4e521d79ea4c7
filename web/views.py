"""The demo app at `/` (a notes app on the browser client) and its service worker."""

import hashlib
from functools import cache
from pathlib import Path

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie

STATIC = Path(settings.BASE_DIR) / "static"
# What the service worker keeps so the app opens offline.
SHELL = [
    "demo/app.js",
    "demo/app.css",
    "demo/icon.svg",
    "cognate/client.js",
    "cognate/exchange.js",
    "cognate/logic.js",
    "cognate/session.js",
    "cognate/store.js",
    "cognate/sync.js",
    "cognate/tabs.js",
    "cognate/transport.js",
    "vendor/idb.js",
]


@ensure_csrf_cookie
def index(request):
    """The app's page. It holds nothing personal (the client fetches the identity), so the
    service worker may keep it for offline use."""
    return render(request, "web/index.html", {"social": _social_providers()})


def _social_providers() -> list[dict]:
    apps = settings.SOCIALACCOUNT_PROVIDERS.get("openid_connect", {}).get("APPS", [])
    return [{"id": app["provider_id"], "name": app["name"]} for app in apps]


@cache
def _version() -> str:
    digest = hashlib.sha256()
    for name in [*SHELL, "demo/sw.js"]:
        digest.update((STATIC / name).read_bytes())
    for template in ["web/index.html"]:
        digest.update((Path(__file__).parent / "templates" / template).read_bytes())
    return digest.hexdigest()[:16]


@never_cache
def service_worker(request):
    """Served from `/` so that it controls the whole app; its cache is named after the
    content of the files it keeps, so any change installs a new one."""
    source = (STATIC / "demo/sw.js").read_text()
    shell = ", ".join(f'"{static(name)}"' for name in SHELL)
    body = source.replace("__VERSION__", _version()).replace('"__SHELL__"', shell)
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    return response


def favicon(request):
    return HttpResponse((STATIC / "demo/icon.svg").read_bytes(), content_type="image/svg+xml")
