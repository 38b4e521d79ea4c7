"""OpenID tokens verified by a relying party with PyJWT against the published JWKS; key
rotation keeps old tokens verifiable."""

import json
import time
import urllib.request

import jwt
import pytest


def fetch(url: str) -> dict:
    with urllib.request.urlopen(url) as response:
        return json.load(response)


def verify_with_published_keys(live, token: str, audience: str) -> dict:
    config = fetch(f"{live.url}/.well-known/openid-configuration")
    assert config["issuer"] == live.url
    jwks = jwt.PyJWKSet.from_dict(fetch(config["jwks_uri"]))
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    return jwt.decode(token, key.key, algorithms=["RS512"], audience=audience, issuer=live.url)


def test_guest_token_verifies_against_the_jwks(live, anon, guest_pool):
    pool_id = guest_pool["IdentityPoolId"]
    identity_id = anon.get_id(IdentityPoolId=pool_id)["IdentityId"]
    before = int(time.time())
    got = anon.get_open_id_token(IdentityId=identity_id)
    assert got["IdentityId"] == identity_id
    claims = verify_with_published_keys(live, got["Token"], pool_id)
    assert claims["sub"] == identity_id
    assert claims["aud"] == pool_id
    assert claims["amr"] == ["unauthenticated"]
    assert claims["exp"] - claims["iat"] == 600
    assert before - 1 <= claims["iat"] <= time.time() + 1
    assert claims["https://cognito-identity.amazonaws.com/identity-pool-arn"].endswith(pool_id)
    header = jwt.get_unverified_header(got["Token"])
    assert header["alg"] == "RS512" and header["typ"] == "JWS"


def test_token_for_another_audience_fails_verification(live, anon, guest_pool):
    identity_id = anon.get_id(IdentityPoolId=guest_pool["IdentityPoolId"])["IdentityId"]
    token = anon.get_open_id_token(IdentityId=identity_id)["Token"]
    with pytest.raises(jwt.InvalidAudienceError):
        verify_with_published_keys(live, token, "us-east-1:00000000-0000-0000-0000-000000000000")


def test_rotation_publishes_a_new_key_and_keeps_the_old_one(live, anon, guest_pool):
    pool_id = guest_pool["IdentityPoolId"]
    identity_id = anon.get_id(IdentityPoolId=pool_id)["IdentityId"]
    old_token = anon.get_open_id_token(IdentityId=identity_id)["Token"]
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    out = live.manage("rotate_signing_key").stdout
    new_kid = out.split("Signing key ")[1].split()[0]
    assert new_kid != old_kid
    published = {key["kid"] for key in fetch(f"{live.url}/.well-known/jwks.json")["keys"]}
    assert {old_kid, new_kid} <= published
    # The old token still verifies; tokens issued from now on use the new key (the server
    # notices the rotation within a minute: it caches its signing key that long).
    assert verify_with_published_keys(live, old_token, pool_id)["sub"] == identity_id


def test_jwks_keys_are_public_only(live, anon, guest_pool):
    identity_id = anon.get_id(IdentityPoolId=guest_pool["IdentityPoolId"])["IdentityId"]
    anon.get_open_id_token(IdentityId=identity_id)
    keys = fetch(f"{live.url}/.well-known/jwks_uri")["keys"]
    assert keys
    for key in keys:
        assert key["kty"] == "RSA" and key["alg"] == "RS512" and key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


@pytest.mark.django_db(transaction=True)
def test_a_key_made_in_a_transaction_that_rolls_back_signs_no_later_token():
    from django.db import transaction

    from identity import selectors, services, signing_keys, tokens
    from identity.models import SigningKey

    signing_keys.forget_cached_keys()  # as in a process that has not signed anything yet
    pool = services.pool_create(name="Keys", allow_unauthenticated=True)
    guest = services.identity_create_guest(pool=selectors.pool_view(pool.id))

    def issue() -> str:
        return tokens.openid_token_issue(
            identity_id=guest.id, pool_id=pool.id, amr=["unauthenticated"], lifetime=600
        )

    with pytest.raises(RuntimeError), transaction.atomic():
        issue()  # the first token makes the first key, in this transaction
        raise RuntimeError("the request fails after its token was made")
    assert not SigningKey.objects.exists()
    assert tokens.openid_token_claims(issue())["sub"] == guest.id
