"""A real OpenID provider for tests: oidc-provider-mock in a thread on a free loopback port,
and id_tokens obtained by driving its authorization-code flow over HTTP, as a browser and an
app's backend would."""

import contextlib
import datetime
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import requests
from oidc_provider_mock import run_server_in_thread

REDIRECT = "http://localhost/callback"


@dataclass
class Issuer:
    url: str
    client_id: str
    client_secret: str

    @property
    def key(self) -> str:
        """The Logins key: the issuer without its scheme."""
        return self.url.split("://", 1)[1]

    def register_client(
        self, redirect_uri: str = REDIRECT, auth_method: str = "client_secret_basic"
    ) -> tuple[str, str]:
        response = requests.post(
            f"{self.url}/oauth2/clients",
            json={"redirect_uris": [redirect_uri], "token_endpoint_auth_method": auth_method},
            timeout=10,
        )
        response.raise_for_status()
        body = response.json()
        return body["client_id"], body["client_secret"]

    def set_claims(self, sub: str, claims: dict) -> None:
        requests.put(f"{self.url}/users/{sub}", json=claims, timeout=10).raise_for_status()

    def id_token(self, sub: str, *, client: tuple[str, str] | None = None) -> str:
        """Sign `sub` in (the authorization form) and trade the code for an id_token."""
        client_id, secret = client or (self.client_id, self.client_secret)
        params = {
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "openid email",
            "state": "s",
        }
        consent = requests.post(
            f"{self.url}/oauth2/authorize",
            params=params,
            data={"sub": sub},
            allow_redirects=False,
            timeout=10,
        )
        assert consent.status_code == 302, consent.text[:500]
        code = parse_qs(urlsplit(consent.headers["Location"]).query)["code"][0]
        token = requests.post(
            f"{self.url}/oauth2/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
            auth=(client_id, secret),
            timeout=10,
        )
        token.raise_for_status()
        return token.json()["id_token"]


@contextlib.contextmanager
def issuer(*, token_lifetime: datetime.timedelta = datetime.timedelta(hours=1)):
    with run_server_in_thread(access_token_max_age=token_lifetime) as server:
        url = f"http://localhost:{server.server_port}"
        setup = Issuer(url, "", "")
        client_id, secret = setup.register_client()
        yield Issuer(url, client_id, secret)
