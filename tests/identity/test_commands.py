"""Management commands an operator runs."""

import io

import pytest
from django.core.management import CommandError, call_command

from identity import services
from identity.models import AccessKey, IdentityPool

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_access_key_prints_a_working_pair(admin_user):
    out, err = run("create_access_key", admin_user.username, "--description", "deploy")
    key_line, secret_line = out.splitlines()
    key = AccessKey.objects.get(access_key_id=key_line.split("=", 1)[1])
    assert key.description == "deploy" and key.user == admin_user
    assert services.access_key_secret(key) == secret_line.split("=", 1)[1]
    assert "not shown again" in err


def test_create_access_key_explains_what_is_wrong(django_user_model):
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        run("create_access_key", "ghost")
    django_user_model.objects.create_user("visitor")
    with pytest.raises(CommandError, match="must be an active staff user"):
        run("create_access_key", "visitor")


def test_create_access_key_can_be_limited_to_pools(admin_user):
    pool = services.pool_create(name="Only", allow_unauthenticated=False)
    out, _ = run("create_access_key", admin_user.username, "--pool", pool.id)
    key = AccessKey.objects.get(access_key_id=out.splitlines()[0].split("=", 1)[1])
    assert list(key.pools.values_list("id", flat=True)) == [pool.id]
    with pytest.raises(CommandError, match="not found"):
        run("create_access_key", admin_user.username, "--pool", "us-east-1:0000")


def test_ensure_demo_pool_is_idempotent(settings):
    first, _ = run("ensure_demo_pool")
    second, _ = run("ensure_demo_pool", "--endpoint", "http://example.test/aws")
    assert IdentityPool.objects.filter(id=settings.COGNATE_DEMO_POOL_ID).count() == 1
    assert settings.COGNATE_DEMO_POOL_ID in first and settings.COGNATE_DEMO_POOL_ID in second
    assert "http://example.test/aws" in second
    pool = IdentityPool.objects.get(id=settings.COGNATE_DEMO_POOL_ID)
    assert pool.allow_unauthenticated and pool.allow_classic_flow


def test_revoke_credentials_of_unknown_identity_fails_clearly():
    with pytest.raises(CommandError, match="not found"):
        run("revoke_credentials", "us-east-1:00000000-0000-0000-0000-000000000000")


def test_settings_checks_catch_wrong_values(settings):
    from identity.checks import cognate_settings

    assert cognate_settings(None) == []
    settings.COGNATE_REGION = "mars"
    settings.COGNATE_ACCOUNT_ID = "12"
    settings.COGNATE_ISSUER_URL = "ftp://x"
    ids = {problem.id for problem in cognate_settings(None)}
    assert ids == {"cognate.E001", "cognate.E002", "cognate.E003"}
