"""The contract every login provider passes, each against a local server standing in for its
endpoints: a good token signs in; a token for another app, from another issuer, expired,
signed with an unknown key or tampered with is refused with NotAuthorizedException; a
provider that does not answer gives ExternalServiceException. Never anything else."""

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from aws.errors import NotAuthorized
from identity import selectors, services, tokens
from identity.providers import ExternalServiceError, verify_login
from tests.support import standins

pytestmark = pytest.mark.django_db

JWT_SCENARIOS = [
    "valid",
    "wrong_audience",
    "wrong_issuer",
    "expired",
    "unknown_key",
    "bad_signature",
    "provider_down",
]
OPAQUE_SCENARIOS = [
    "valid",
    "wrong_audience",
    "expired",
    "unknown_key",
    "bad_signature",
    "provider_down",
]


def tamper(token: str) -> str:
    header, payload, sig = token.split(".")
    claims = jwt.utils.base64url_decode(payload).replace(b'"user-1"', b'"user-2"')
    return ".".join([header, jwt.utils.base64url_encode(claims).decode(), sig])


class OidcHarness:
    """Google, Apple, or an issuer registered as an IAM OpenID Connect provider."""

    def __init__(self, settings, kind):
        self.issuer = standins.OidcIssuer()
        settings.COGNATE_ALLOW_HTTP_ISSUERS = True
        self.kind = kind
        if kind == "google":
            settings.COGNATE_GOOGLE_ISSUER = self.issuer.url
            self.key, self.supported, self.arns = "accounts.google.com", True, []
        elif kind == "apple":
            settings.COGNATE_APPLE_ISSUER = self.issuer.url
            self.key, self.supported, self.arns = "appleid.apple.com", True, []
        else:
            provider = services.oidc_provider_create(
                url=self.issuer.url, client_ids=["client-1"], thumbprints=[], tags=[]
            )
            self.key, self.supported, self.arns = provider.key, False, [provider.arn]

    def pool(self):
        pool = services.pool_create(
            name=f"{self.kind} pool",
            allow_unauthenticated=True,
            supported_login_providers={self.key: "client-1"} if self.supported else {},
            openid_connect_provider_arns=self.arns,
        )
        return selectors.pool_view(pool.id)

    def token(self, scenario):
        issue = self.issuer.token
        return {
            "valid": lambda: issue(),
            "provider_down": lambda: issue(),
            "wrong_audience": lambda: issue(aud="someone-else"),
            "wrong_issuer": lambda: issue(iss="https://issuer.elsewhere.example"),
            "expired": lambda: issue(expires_in=-301 - 300),
            "unknown_key": lambda: issue(key=self.issuer.stranger, kid="k9"),
            "bad_signature": lambda: tamper(issue()),
        }[scenario]()

    def stop(self):
        self.issuer.stop()


class FacebookHarness:
    key = "graph.facebook.com"

    def __init__(self, settings):
        self.graph = standins.Facebook()
        settings.COGNATE_FACEBOOK_GRAPH_URL = self.graph.url
        self.graph.tokens.update(
            {
                "good": ("app-1", "user-1", False),
                "other-app": ("app-2", "user-1", False),
                "old": ("app-1", "user-1", True),
            }
        )

    def pool(self):
        pool = services.pool_create(
            name="fb",
            allow_unauthenticated=True,
            supported_login_providers={self.key: "app-1"},
        )
        return selectors.pool_view(pool.id)

    def token(self, scenario):
        return {
            "valid": "good",
            "provider_down": "good",
            "wrong_audience": "other-app",
            "expired": "old",
            "unknown_key": "never-issued",
            "bad_signature": "g00d",
        }[scenario]

    def stop(self):
        self.graph.standin.stop()


class AmazonHarness:
    key = "www.amazon.com"

    def __init__(self, settings):
        self.amazon = standins.Amazon()
        settings.COGNATE_AMAZON_TOKENINFO_URL = self.amazon.url
        self.amazon.tokens.update(
            {
                "Atza|good": ("amzn1.client-1", "user-1", False),
                "Atza|other": ("amzn1.client-2", "user-1", False),
                "Atza|old": ("amzn1.client-1", "user-1", True),
            }
        )

    def pool(self):
        pool = services.pool_create(
            name="amazon",
            allow_unauthenticated=True,
            supported_login_providers={self.key: "amzn1.client-1"},
        )
        return selectors.pool_view(pool.id)

    def token(self, scenario):
        return {
            "valid": "Atza|good",
            "provider_down": "Atza|good",
            "wrong_audience": "Atza|other",
            "expired": "Atza|old",
            "unknown_key": "Atza|unknown",
            "bad_signature": "Atza|g00d",
        }[scenario]

    def stop(self):
        self.amazon.standin.stop()


class TwitterHarness:
    key = "api.twitter.com"

    def __init__(self, settings):
        self.twitter = standins.Twitter()
        settings.COGNATE_TWITTER_VERIFY_URL = self.twitter.url
        self.twitter.consumers.update({"ck-1": "cs-1", "ck-2": "cs-2"})
        self.twitter.tokens.update(
            {
                "t-good": ("ts-good", "ck-1", "user-1"),
                "t-other": ("ts-other", "ck-2", "user-1"),
            }
        )

    def pool(self):
        pool = services.pool_create(
            name="twitter",
            allow_unauthenticated=True,
            supported_login_providers={self.key: "ck-1;cs-1"},
        )
        return selectors.pool_view(pool.id)

    def token(self, scenario):
        return {
            "valid": "t-good;ts-good",
            "provider_down": "t-good;ts-good",
            "wrong_audience": "t-other;ts-other",
            "expired": "t-revoked;ts",
            "unknown_key": "t-unknown;ts-unknown",
            "bad_signature": "t-good;ts-wrong",
        }[scenario]

    def stop(self):
        self.twitter.standin.stop()


class CognateHarness:
    key = "cognito-identity.amazonaws.com"

    def __init__(self, settings):
        self.settings = settings

    def pool(self):
        pool = services.pool_create(name="cognate", allow_unauthenticated=True)
        self.view = selectors.pool_view(pool.id)
        self.identity = services.identity_create_guest(pool=self.view)
        return self.view

    def _issue(self, **kwargs):
        return tokens.openid_token_issue(
            identity_id=kwargs.get("sub", self.identity.id),
            pool_id=kwargs.get("aud", self.view.id),
            amr=["unauthenticated"],
            lifetime=600,
            now=kwargs.get("now"),
        )

    def token(self, scenario):
        if scenario == "wrong_issuer":
            issuer, self.settings.COGNATE_ISSUER_URL = (
                self.settings.COGNATE_ISSUER_URL,
                "https://x.example",
            )
            try:
                return self._issue()
            finally:
                self.settings.COGNATE_ISSUER_URL = issuer
        if scenario == "unknown_key":
            stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            claims = jwt.decode(self._issue(), options={"verify_signature": False})
            return jwt.encode(claims, stranger, algorithm="RS512", headers={"kid": "nobody"})
        return {
            "valid": lambda: self._issue(),
            "wrong_audience": lambda: self._issue(
                aud="us-east-1:00000000-0000-0000-0000-0000000000ff"
            ),
            "expired": lambda: self._issue(now=time.time() - 3600),
            "bad_signature": lambda: self._issue()[:-8] + "AAAAAAAA",
        }[scenario]()

    @property
    def subject(self):
        return self.identity.id


HARNESSES = {
    "google": (lambda s: OidcHarness(s, "google"), JWT_SCENARIOS),
    "apple": (lambda s: OidcHarness(s, "apple"), JWT_SCENARIOS),
    "openid-connect": (lambda s: OidcHarness(s, "oidc"), JWT_SCENARIOS),
    "facebook": (FacebookHarness, OPAQUE_SCENARIOS),
    "amazon": (AmazonHarness, OPAQUE_SCENARIOS),
    "twitter": (TwitterHarness, OPAQUE_SCENARIOS),
    "cognate": (CognateHarness, [s for s in JWT_SCENARIOS if s != "provider_down"]),
}
CASES = [(name, scenario) for name, (_, scenarios) in HARNESSES.items() for scenario in scenarios]


@pytest.mark.parametrize(("provider", "scenario"), CASES)
def test_provider_contract(settings, provider, scenario):
    make, _ = HARNESSES[provider]
    harness = make(settings)
    pool = harness.pool()
    token = harness.token(scenario)
    if scenario == "provider_down":
        harness.stop()
        with pytest.raises(ExternalServiceError) as excinfo:
            verify_login(harness.key, token, pool)
        assert excinfo.value.code == "ExternalServiceException"
        assert "try again" in excinfo.value.message or "not" in excinfo.value.message
        return
    try:
        if scenario == "valid":
            login = verify_login(harness.key, token, pool)
            expected = getattr(harness, "subject", "user-1")
            assert (login.provider, login.subject) == (harness.key, expected)
            return
        with pytest.raises(NotAuthorized) as excinfo:
            verify_login(harness.key, token, pool)
        assert excinfo.value.message.startswith("Invalid login token.")
    finally:
        if hasattr(harness, "stop") and scenario != "provider_down":
            harness.stop()


def test_a_provider_the_pool_does_not_trust_is_refused(settings):
    harness = FacebookHarness(settings)
    pool = services.pool_create(name="no facebook", allow_unauthenticated=True)
    with pytest.raises(NotAuthorized) as excinfo:
        verify_login(harness.key, "good", selectors.pool_view(pool.id))
    assert excinfo.value.message == "Token is not from a supported provider of this identity pool."
    harness.stop()


def test_unknown_kid_fetches_the_keys_again(settings):
    """A provider that rotated its key: the cached keys lack the new kid, so they are fetched
    again and the token verifies."""
    settings.COGNATE_PROVIDER_KEYS_REFETCH_AFTER = 0
    harness = OidcHarness(settings, "google")
    pool = harness.pool()
    assert verify_login(harness.key, harness.token("valid"), pool).subject == "user-1"
    harness.issuer.rotate()
    assert verify_login(harness.key, harness.token("valid"), pool).subject == "user-1"
    harness.stop()


def test_a_key_replaced_under_the_same_kid_fetches_the_keys_again(settings):
    """An issuer that replaced its key but kept the kid: the signature fails with the cached
    key, so the keys are fetched again (not within the cooldown of the last fetch)."""
    settings.COGNATE_PROVIDER_KEYS_REFETCH_AFTER = 0
    harness = OidcHarness(settings, "google")
    pool = harness.pool()
    assert verify_login(harness.key, harness.token("valid"), pool).subject == "user-1"
    harness.issuer.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert verify_login(harness.key, harness.token("valid"), pool).subject == "user-1"
    settings.COGNATE_PROVIDER_KEYS_REFETCH_AFTER = 3600  # within the cooldown: refused
    harness.issuer.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(NotAuthorized) as excinfo:
        verify_login(harness.key, harness.token("valid"), pool)
    assert excinfo.value.message == "Invalid login token. Couldn't verify signed token."
    harness.stop()
