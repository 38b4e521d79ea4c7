"""The ASGI application: the AWS APIs under /aws, Django for every other HTTP path (static
files under STATIC_URL), Channels for websockets. A request body over COGNATE_MAX_BODY_BYTES
is refused on every path before it is read (config/limits.py), by daphne itself when daphne
serves this module."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from config import limits  # noqa: E402
from config.routing import aws_gateway, websocket_urlpatterns  # noqa: E402
from syncstore.origins import BrowserOriginValidator  # noqa: E402

django_http = ASGIStaticFilesHandler(django_asgi_app)


async def http(scope, receive, send):
    if aws_gateway.handles(scope["path"]):
        return await aws_gateway(scope, receive, send)
    return await django_http(scope, receive, send)


def too_large(scope: dict) -> limits.Answer:
    if aws_gateway.handles(scope["path"]):
        return aws_gateway.too_large(scope)
    return limits.plain_too_large(scope)


limits.install_on_daphne(too_large)

application = ProtocolTypeRouter(
    {
        "http": limits.BodyLimit(http, too_large=too_large),
        "websocket": BrowserOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)
