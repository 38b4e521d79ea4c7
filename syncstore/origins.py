"""Which pages may open sockets: browsers always name their page's origin in the handshake,
so a socket from a page on another site is refused unless its origin is allowed. A handshake
without an Origin header does not come from a browser page and is let through (there is no
page to forge a request from); its token still has to be valid."""

from channels.security.websocket import OriginValidator
from django.conf import settings


class BrowserOriginValidator(OriginValidator):
    def __init__(self, application):
        allowed = [*settings.ALLOWED_HOSTS, *settings.WEBSOCKET_ALLOWED_ORIGINS]
        super().__init__(application, allowed)

    def valid_origin(self, parsed_origin):
        if parsed_origin is None:
            return True
        return super().valid_origin(parsed_origin)
