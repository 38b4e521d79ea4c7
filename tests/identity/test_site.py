"""The browser bootstrap and the site's own accounts, through Django's test client: a guest
on first visit, the same guest while the cookie lasts, CSRF and rate limits, and every
sign-in on the site bringing the guest's identity along."""

import jwt
import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client

from identity import selectors, services
from identity.models import Identity
from syncstore import services as sync_services
from syncstore.models import Dataset, Record

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def site_pool():
    cache.clear()  # rate-limit counters of earlier tests
    call_command("ensure_demo_pool", stdout=None)


def browser() -> Client:
    """A browser: CSRF enforced, with the csrftoken cookie a page of the site would set."""
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")
    return client


def bootstrap(client: Client):
    return client.post(
        "/identity/session", headers={"X-CSRFToken": client.cookies["csrftoken"].value}
    )


def write(identity_id: str, dataset: str, values: dict[str, str]) -> None:
    identity = selectors.identity_get(identity_id)
    sync_services.records_update(
        identity=identity,
        dataset_name=dataset,
        patches=[sync_services.Patch(k, "replace", v, 0) for k, v in values.items()],
        modified_by="device",
    )


def reachable(identity_id: str) -> set[tuple[str, str, str]]:
    """(root dataset, key, value) the identity can reach, merged datasets included."""
    rows = Record.objects.filter(
        dataset__identity_id=identity_id, dataset__deleted__isnull=True, value__isnull=False
    ).values_list("dataset__name", "dataset__merge_root", "key", "value")
    return {(root or name, key, value) for name, root, key, value in rows}


def test_first_visit_gets_a_guest_and_keeps_it(settings):
    client = browser()
    first = bootstrap(client)
    assert first.status_code == 200 and first["Cache-Control"] == "no-store"
    body = first.json()
    assert body["authenticated"] is False and body["username"] is None
    assert body["identityPoolId"] == settings.COGNATE_SITE_POOL_ID
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["sub"] == body["identityId"] and claims["amr"] == ["unauthenticated"]
    cookie = first.cookies[settings.COGNATE_GUEST_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == settings.COGNATE_GUEST_COOKIE_AGE
    assert bootstrap(client).json()["identityId"] == body["identityId"]
    other = bootstrap(browser()).json()["identityId"]
    assert other != body["identityId"]


def test_bootstrap_needs_csrf_and_post():
    client = browser()
    assert client.post("/identity/session").status_code == 403
    assert client.get("/identity/session").status_code == 405


def test_a_forged_cookie_gets_a_new_guest(settings):
    client = browser()
    real = bootstrap(client).json()["identityId"]
    client.cookies[settings.COGNATE_GUEST_COOKIE] = "us-east-1:00000000-0000-0000-0000-000000000000"
    assert bootstrap(client).json()["identityId"] != real


def test_guest_issuance_is_rate_limited_per_address(settings):
    settings.COGNATE_GUEST_RATE_LIMIT = 2
    for _ in range(2):
        assert bootstrap(browser()).status_code == 200
    refused = bootstrap(browser())
    assert refused.status_code == 429
    assert refused.json()["__type"] == "TooManyRequestsException"
    assert int(refused["Retry-After"]) > 0
    # A returning guest is not a new one: the limit does not lock it out.
    settings.COGNATE_GUEST_RATE_LIMIT = 1000
    client = browser()
    bootstrap(client)
    settings.COGNATE_GUEST_RATE_LIMIT = 0
    assert bootstrap(client).status_code == 200


def signup(client: Client, username: str):
    response = client.post(
        "/accounts/signup/",
        {
            "username": username,
            "password1": "a long pass phrase 81",
            "password2": "a long pass phrase 81",
        },
        headers={"X-CSRFToken": client.cookies["csrftoken"].value},
    )
    assert response.status_code == 302, response.content.decode()[:3000]


def login(client: Client, username: str):
    client.get("/accounts/login/")
    response = client.post(
        "/accounts/login/",
        {"login": username, "password": "a long pass phrase 81"},
        headers={"X-CSRFToken": client.cookies["csrftoken"].value},
    )
    assert response.status_code == 302, response.content.decode()[:3000]


def test_register_then_sign_in_on_a_second_device_loses_nothing():
    laptop = browser()
    guest = bootstrap(laptop).json()["identityId"]
    write(guest, "notes", {"a": "from laptop", "same": "laptop"})
    signup(laptop, "ada")
    signed_in = bootstrap(laptop).json()
    assert signed_in["authenticated"] is True and signed_in["username"] == "ada"
    assert signed_in["identityId"] == guest  # the guest became the account
    claims = jwt.decode(signed_in["token"], options={"verify_signature": False})
    assert claims["amr"][:2] == ["authenticated", "login.cognate"]

    phone = browser()
    phone_guest = bootstrap(phone).json()["identityId"]
    write(phone_guest, "notes", {"b": "from phone", "same": "phone"})
    login(phone, "ada")
    assert bootstrap(phone).json()["identityId"] == guest
    assert reachable(guest) >= {
        ("notes", "a", "from laptop"),
        ("notes", "b", "from phone"),
        ("notes", "same", "laptop"),
        ("notes", "same", "phone"),
    }
    merged = Identity.objects.get(id=phone_guest)
    assert merged.state == Identity.State.DISABLED and merged.merged_into_id == guest


def test_signing_out_gives_a_new_guest_and_the_account_keeps_its_data():
    client = browser()
    guest = bootstrap(client).json()["identityId"]
    write(guest, "notes", {"k": "v"})
    signup(client, "bob")
    assert bootstrap(client).json()["identityId"] == guest
    client.post("/accounts/logout/", headers={"X-CSRFToken": client.cookies["csrftoken"].value})
    after = bootstrap(client).json()
    assert after["authenticated"] is False and after["identityId"] != guest
    assert Dataset.objects.filter(identity_id=guest, name="notes").exists()


def test_a_missing_site_pool_is_explained(settings):
    settings.COGNATE_SITE_POOL_ID = "us-east-1:00000000-0000-0000-0000-00000000beef"
    response = bootstrap(browser())
    assert response.status_code == 503
    assert "ensure_demo_pool" in response.json()["message"]


def test_a_user_signing_in_with_no_guest_gets_an_identity(django_user_model):
    user = django_user_model.objects.create_user("cat", password="a long pass phrase 81")
    identity = services.site_user_identity(user=user)
    assert services.site_user_identity(user=user).id == identity.id
    assert identity.state == Identity.State.AUTHENTICATED


def test_any_authentication_backend_brings_the_guest_along(settings):
    settings.AUTHENTICATION_BACKENDS = [
        "tests.support.directory.DirectoryBackend",
        *settings.AUTHENTICATION_BACKENDS,
    ]
    client = browser()
    guest = bootstrap(client).json()["identityId"]
    write(guest, "notes", {"k": "from the guest"})
    response = client.post(
        "/accounts/login/",
        {"login": "grace", "password": "hopper-compiler-1952"},
        headers={"X-CSRFToken": client.cookies["csrftoken"].value},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    signed_in = bootstrap(client).json()
    assert signed_in["username"] == "grace" and signed_in["identityId"] == guest
    assert ("notes", "k", "from the guest") in reachable(guest)


def test_the_admin_sign_in_also_brings_the_guest_along(django_user_model):
    django_user_model.objects.create_superuser("root", password="a long pass phrase 81")
    client = browser()
    guest = bootstrap(client).json()["identityId"]
    client.get("/admin/login/")
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "root", "password": "a long pass phrase 81"},
        headers={"X-CSRFToken": client.cookies["csrftoken"].value},
    )
    assert response.status_code == 302
    assert bootstrap(client).json()["identityId"] == guest
