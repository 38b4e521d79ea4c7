"""Facebook logins: the Logins value is a user access token. The Graph API says which app the
token belongs to (it must be the pool's app id) and whose it is."""

from django.conf import settings

from identity.providers.base import LoginRejected, Provider, VerifiedLogin, get_json
from identity.selectors import PoolView


class Facebook(Provider):
    key = "graph.facebook.com"
    name = "Facebook"

    def _get(self, path: str, token: str, **params) -> dict:
        status, body = get_json(
            self.name,
            f"{settings.COGNATE_FACEBOOK_GRAPH_URL.rstrip('/')}/{path}",
            params={"access_token": token, **params},
        )
        if status != 200 or not isinstance(body, dict) or "id" not in body:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            if error.get("error_subcode") == 463:
                raise LoginRejected("Invalid login token. Token expired.")
            raise LoginRejected(
                "Invalid login token. Facebook did not accept it"
                + (f": {error['message']}" if error.get("message") else ".")
            )
        return body

    def verify(self, key: str, token: str, pool: PoolView) -> VerifiedLogin:
        app = self._get("app", token)
        if str(app["id"]) not in self.configured_ids(pool):
            raise LoginRejected("Invalid login token. Incorrect token audience.")
        me = self._get("me", token, fields="id")
        return VerifiedLogin(provider=key, subject=str(me["id"]), claims={"app_id": app["id"]})
