"""The site as a browser uses it, on a live server: a guest writes data through the Sync API
with its bootstrap token, then signs in with a social login (django-allauth against
oidc-provider-mock); a second browser does the same and is merged; nothing is lost."""

import json
from urllib.parse import quote

import pytest
import requests

from tests.support import servers
from tests.support.oidc import issuer


@pytest.fixture(scope="module")
def social(tmp_path_factory):
    """A live server whose sign-in page offers the mock provider."""
    with issuer() as provider:
        port = servers.free_port()
        callback = f"http://127.0.0.1:{port}/accounts/oidc/mock/login/callback/"
        client_id, secret = provider.register_client(callback, "client_secret_basic")
        with servers.cognate(
            tmp_path_factory.mktemp("social"),
            port=port,
            label="social",
            SOCIAL_OIDC_ID="mock",
            SOCIAL_OIDC_NAME="Mock provider",
            SOCIAL_OIDC_SERVER_URL=provider.url,
            SOCIAL_OIDC_CLIENT_ID=client_id,
            SOCIAL_OIDC_SECRET=secret,
            SOCIAL_OIDC_TOKEN_AUTH_METHOD="client_secret_basic",
        ) as live:
            live.manage("ensure_demo_pool")
            yield live, provider


class Browser:
    def __init__(self, live):
        self.live = live
        self.http = requests.Session()
        self.http.get(f"{live.url}/accounts/login/").raise_for_status()

    def csrf(self):
        return {"X-CSRFToken": self.http.cookies["csrftoken"]}

    def bootstrap(self) -> dict:
        response = self.http.post(f"{self.live.url}/identity/session", headers=self.csrf())
        response.raise_for_status()
        return response.json()

    def sync(self, session: dict, method: str, dataset: str, body=None, query=""):
        path = (
            f"/aws/identitypools/{quote(session['identityPoolId'], safe='')}/identities/"
            f"{quote(session['identityId'], safe='')}/datasets/{dataset}"
        )
        response = requests.request(
            method,
            f"{self.live.url}{path}{query}",
            data=json.dumps(body) if body else None,
            headers={
                "Authorization": f"Bearer {session['token']}",
                "Content-Type": "application/json",
            },
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def write(self, session, dataset, values):
        listed = self.sync(session, "GET", dataset, query="/records")
        counts = {r["Key"]: r["SyncCount"] for r in listed["Records"]}
        self.sync(
            session,
            "POST",
            dataset,
            {
                "SyncSessionToken": listed["SyncSessionToken"],
                "RecordPatches": [
                    {"Op": "replace", "Key": k, "Value": v, "SyncCount": counts.get(k, 0)}
                    for k, v in values.items()
                ],
            },
        )

    def read_all(self, session, dataset):
        listed = self.sync(session, "GET", dataset, query="/records?lastSyncCount=0")
        found = {(dataset, r["Key"], r["Value"]) for r in listed["Records"] if "Value" in r}
        for name in listed.get("MergedDatasetNames", []):
            kept = self.sync(session, "GET", name, query="/records?lastSyncCount=0")
            found |= {(dataset, r["Key"], r["Value"]) for r in kept["Records"] if "Value" in r}
        return found

    def social_sign_in(self, provider, sub):
        login_url = f"{self.live.url}/accounts/oidc/mock/login/"
        self.http.get(login_url).raise_for_status()
        to_provider = self.http.post(login_url, headers=self.csrf(), allow_redirects=False)
        assert to_provider.status_code == 302, to_provider.text[:2000]
        authorize = to_provider.headers["Location"]
        assert authorize.startswith(provider.url)
        consent = requests.post(authorize, data={"sub": sub}, allow_redirects=False, timeout=10)
        assert consent.status_code == 302
        back = self.http.get(consent.headers["Location"], allow_redirects=False)
        assert back.status_code == 302, back.text[:2000]


def test_social_sign_in_links_then_merges(social):
    live, provider = social
    laptop = Browser(live)
    guest = laptop.bootstrap()
    laptop.write(guest, "notes", {"a": "laptop", "same": "laptop"})
    laptop.social_sign_in(provider, "zoe@example.com")
    account = laptop.bootstrap()
    assert account["authenticated"] is True
    assert account["identityId"] == guest["identityId"]

    phone = Browser(live)
    phone_guest = phone.bootstrap()
    assert phone_guest["identityId"] != guest["identityId"]
    phone.write(phone_guest, "notes", {"b": "phone", "same": "phone"})
    phone.social_sign_in(provider, "zoe@example.com")
    on_phone = phone.bootstrap()
    assert on_phone["identityId"] == guest["identityId"]
    assert phone.read_all(on_phone, "notes") == {
        ("notes", "a", "laptop"),
        ("notes", "b", "phone"),
        ("notes", "same", "laptop"),
        ("notes", "same", "phone"),
    }
    # The phone's old guest token no longer opens anything.
    refused = requests.get(
        f"{live.url}/aws/identitypools/{quote(phone_guest['identityPoolId'], safe='')}/"
        f"identities/{quote(phone_guest['identityId'], safe='')}/datasets",
        headers={"Authorization": f"Bearer {phone_guest['token']}"},
        timeout=10,
    )
    assert refused.status_code == 403
