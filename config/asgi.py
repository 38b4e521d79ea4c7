"""The ASGI application: the AWS APIs under /aws, Django for every other HTTP path (static
files under STATIC_URL), Channels for websockets."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from config.routing import aws_gateway, websocket_urlpatterns  # noqa: E402
from syncstore.origins import BrowserOriginValidator  # noqa: E402

django_http = ASGIStaticFilesHandler(django_asgi_app)


async def http(scope, receive, send):
    if aws_gateway.handles(scope["path"]):
        return await aws_gateway(scope, receive, send)
    return await django_http(scope, receive, send)


application = ProtocolTypeRouter(
    {"http": http, "websocket": BrowserOriginValidator(URLRouter(websocket_urlpatterns))}
)
