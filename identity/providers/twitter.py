"""Twitter logins: the Logins value is "<token>;<secret>" and the pool's provider value is
"<consumer key>;<consumer secret>"; an OAuth 1.0a signed verify_credentials call says whose
the token is (a token of another app does not verify)."""

from django.conf import settings
from requests_oauthlib import OAuth1

from identity.providers.base import LoginRejected, Provider, VerifiedLogin, get_json
from identity.selectors import PoolView


class Twitter(Provider):
    key = "api.twitter.com"
    name = "Twitter"

    def verify(self, key: str, token: str, pool: PoolView) -> VerifiedLogin:
        consumer_key, _, consumer_secret = pool.supported_login_providers[key].partition(";")
        user_token, _, user_secret = token.partition(";")
        if not (user_token and user_secret):
            raise LoginRejected(
                "Invalid login token. A Twitter login is '<access token>;<access token secret>'."
            )
        auth = OAuth1(consumer_key, consumer_secret, user_token, user_secret)
        status, body = get_json(self.name, settings.COGNATE_TWITTER_VERIFY_URL, auth=auth)
        if status != 200 or not isinstance(body, dict) or not body.get("id_str"):
            raise LoginRejected("Invalid login token. Twitter did not accept the credentials.")
        return VerifiedLogin(provider=key, subject=body["id_str"], claims={"id": body["id_str"]})
