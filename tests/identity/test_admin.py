"""The operator's admin screens: they render, and their writes go through the services."""

import json

import pytest
from django.urls import reverse

from identity import selectors, services, signing_keys
from identity.models import AccessKey, Identity, IdentityPool, Role, SigningKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def pool():
    return services.pool_create(name="Admin pool", allow_unauthenticated=True)


@pytest.mark.parametrize(
    "name",
    ["identitypool", "identity", "role", "accesskey", "signingkey"],
)
def test_changelists_render(admin_client, pool, name):
    services.identity_create_guest(pool=selectors.pool_view(pool.id))
    response = admin_client.get(reverse(f"admin:identity_{name}_changelist"))
    assert response.status_code == 200


def test_pool_and_identity_pages_render(admin_client, pool):
    identity = services.identity_create_guest(pool=selectors.pool_view(pool.id))
    assert (
        admin_client.get(reverse("admin:identity_identitypool_change", args=[pool.pk])).status_code
        == 200
    )
    page = admin_client.get(reverse("admin:identity_identity_change", args=[identity.pk]))
    assert page.status_code == 200 and identity.id in page.content.decode()
    found = admin_client.get(
        reverse("admin:identity_identity_changelist"), {"q": identity.id[-12:]}
    )
    assert identity.id in found.content.decode()


def test_adding_a_pool_in_the_admin_gives_it_default_roles(admin_client):
    response = admin_client.post(
        reverse("admin:identity_identitypool_add"),
        {
            "name": "From admin",
            "allow_unauthenticated": "on",
            "supported_login_providers": "{}",
            "developer_provider_name": "",
            "openid_connect_provider_arns": "[]",
            "cognito_identity_providers": "[]",
            "saml_provider_arns": "[]",
            "role_mappings": "{}",
            "tags": '{"team": "ops"}',
            "merge_policy": "newest",
            "guest_retention_days": "30",
            "merged_data_retention_days": "",
            "role_set-TOTAL_FORMS": "0",
            "role_set-INITIAL_FORMS": "0",
            "default_roles-TOTAL_FORMS": "0",
            "default_roles-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    pool = IdentityPool.objects.get(name="From admin")
    assert pool.tags == {"team": "ops", "cognate:merge-policy": "newest"}
    assert pool.merge_policy == "newest"
    assert (pool.guest_retention_days, pool.merged_data_retention_days) == (30, None)
    assert pool.unauthenticated_role.name == "Cognito_From_adminUnauth_Role"
    assert pool.authenticated_role.name == "Cognito_From_adminAuth_Role"


@pytest.mark.parametrize(
    ("choice", "stored"), [("unknown", None), ("true", True), ("false", False)]
)
def test_the_pool_form_sets_each_of_the_three_classic_flow_states(
    admin_client, pool, choice, stored
):
    url = reverse("admin:identity_identitypool_change", args=[pool.pk])
    page = admin_client.get(url).content.decode()
    for label in ("Not set: allowed, as on AWS", "Allowed", "Refused"):
        assert label in page
    response = admin_client.post(
        url,
        {
            "name": pool.name,
            "allow_unauthenticated": "on",
            "allow_classic_flow": choice,
            "supported_login_providers": "{}",
            "developer_provider_name": "",
            "openid_connect_provider_arns": "[]",
            "cognito_identity_providers": "[]",
            "saml_provider_arns": "[]",
            "role_mappings": "{}",
            "tags": "{}",
            "merge_policy": "merge",
            "authenticated_role": pool.authenticated_role_id,
            "unauthenticated_role": pool.unauthenticated_role_id,
            "guest_retention_days": "",
            "merged_data_retention_days": "",
            "role_set-TOTAL_FORMS": "0",
            "role_set-INITIAL_FORMS": "0",
            "default_roles-TOTAL_FORMS": "0",
            "default_roles-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    pool.refresh_from_db()
    assert pool.allow_classic_flow is stored


def test_access_key_secret_is_shown_once_and_works(admin_client, admin_user):
    response = admin_client.post(
        reverse("admin:identity_accesskey_add"),
        {"user": admin_user.pk, "description": "ci", "is_active": "on"},
        follow=True,
    )
    assert response.status_code == 200
    key = AccessKey.objects.get(description="ci")
    shown = [str(m) for m in response.context["messages"]]
    assert any(key.access_key_id in m for m in shown)
    secret = shown[0].rsplit(": ", 1)[1]
    assert services.access_key_secret(key) == secret


def test_access_keys_are_only_for_staff(admin_client, django_user_model):
    plain = django_user_model.objects.create_user("plain")
    response = admin_client.post(
        reverse("admin:identity_accesskey_add"), {"user": plain.pk, "is_active": "on"}
    )
    assert response.status_code == 200
    assert "Access keys are for active staff users." in response.content.decode()
    assert not AccessKey.objects.exists()


def test_rotate_action_puts_a_new_key_in_service(admin_client):
    first = signing_keys.signing_key_current()
    admin_client.post(
        reverse("admin:identity_signingkey_changelist"),
        {"action": "rotate", "_selected_action": [first.pk]},
    )
    first.refresh_from_db()
    assert first.retired is not None
    assert SigningKey.objects.filter(retired__isnull=True).count() == 1


def test_revoke_action_sets_the_not_before_time(admin_client, pool):
    identity = services.identity_create_guest(pool=selectors.pool_view(pool.id))
    admin_client.post(
        reverse("admin:identity_identity_changelist"),
        {"action": "revoke_credentials", "_selected_action": [identity.pk]},
    )
    identity.refresh_from_db()
    assert identity.credentials_not_before is not None
    assert identity.state == Identity.State.GUEST


def test_role_form_refuses_malformed_policies(admin_client):
    response = admin_client.post(
        reverse("admin:identity_role_add"),
        {
            "name": "Broken",
            "description": "",
            "trust_policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "*"}]}),
            "policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "*"}]}),
            "max_session_duration": 3600,
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "needs a Principal" in body and "Resource or NotResource" in body
    assert not Role.objects.filter(name="Broken").exists()


def test_deleting_a_pool_in_the_admin_deletes_its_identities(admin_client, pool):
    services.identity_create_guest(pool=selectors.pool_view(pool.id))
    response = admin_client.post(
        reverse("admin:identity_identitypool_delete", args=[pool.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Identity.objects.filter(pool_id=pool.id).exists()


def test_merges_and_oidc_providers_have_pages(admin_client):
    assert admin_client.get(reverse("admin:identity_merge_changelist")).status_code == 200
    page = admin_client.post(
        reverse("admin:identity_oidcprovider_add"),
        {"url": "ftp://issuer.example", "client_ids": '["a"]', "thumbprints": "[]"},
    )
    assert "must be an https:// issuer URL" in page.content.decode()
    added = admin_client.post(
        reverse("admin:identity_oidcprovider_add"),
        {"url": "https://issuer.example/", "client_ids": '["a"]', "thumbprints": "[]"},
    )
    assert added.status_code == 302
    from identity.models import OidcProvider

    provider = OidcProvider.objects.get()
    assert provider.url == "https://issuer.example"
    assert provider.arn == "arn:aws:iam::000000000000:oidc-provider/issuer.example"


def test_the_oidc_provider_form_refuses_internal_issuers(admin_client, settings):
    from identity.models import OidcProvider

    settings.COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    page = admin_client.post(
        reverse("admin:identity_oidcprovider_add"),
        {"url": "https://169.254.169.254/latest", "client_ids": '["a"]', "thumbprints": "[]"},
    )
    assert page.status_code == 200
    assert (
        "Url https://169.254.169.254/latest is refused: 169.254.169.254 is a cloud metadata "
        "address; Cognate does not connect to internal addresses unless "
        "COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES=true (local development and tests only)."
    ) in page.content.decode()
    assert not OidcProvider.objects.exists()
