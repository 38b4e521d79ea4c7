"""Login with Amazon: the Logins value is an access token; Amazon's token-info endpoint says
which app it was issued to (it must be the pool's) and whose it is."""

from django.conf import settings

from identity.providers.base import LoginRejected, Provider, VerifiedLogin, get_json
from identity.selectors import PoolView


class LoginWithAmazon(Provider):
    key = "www.amazon.com"
    name = "Login with Amazon"

    def verify(self, key: str, token: str, pool: PoolView) -> VerifiedLogin:
        status, info = get_json(
            self.name, settings.COGNATE_AMAZON_TOKENINFO_URL, params={"access_token": token}
        )
        if status != 200 or not isinstance(info, dict) or not info.get("user_id"):
            detail = info.get("error_description", "") if isinstance(info, dict) else ""
            if "expired" in detail.lower():
                raise LoginRejected("Invalid login token. Token expired.")
            raise LoginRejected("Invalid login token. Amazon did not accept it.")
        if info.get("aud") not in self.configured_ids(pool):
            raise LoginRejected("Invalid login token. Incorrect token audience.")
        return VerifiedLogin(provider=key, subject=str(info["user_id"]), claims=dict(info))
