"""OpenID tokens: JWTs signed (RS512) with keys kept in the database, published as a JWKS
under the issuer URL. Claims follow Cognito: `iss` the issuer URL, `aud` the pool id, `sub`
the identity id, `amr`."""

from typing import Any

import jwt
from django.conf import settings

from identity import clock, signing_keys
from identity.selectors import signing_keys_published
from identity.signing_keys import ALGORITHM

_UNVERIFIED: Any = {
    "verify_signature": False,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
}


def openid_token_issue(
    *,
    identity_id: str,
    pool_id: str,
    amr: list[str],
    lifetime: int,
    extra_claims: dict | None = None,
    now: float | None = None,
) -> str:
    now = clock.now() if now is None else now
    kid, key = signing_keys.current_private_key(now)
    claims = {
        "iss": settings.COGNATE_ISSUER_URL,
        "aud": pool_id,
        "sub": identity_id,
        "amr": amr,
        "iat": int(now),
        "exp": int(now) + lifetime,
        "https://cognito-identity.amazonaws.com/identity-pool-arn": (
            f"arn:aws:cognito-identity:{settings.COGNATE_REGION}:"
            f"{settings.COGNATE_ACCOUNT_ID}:identitypool/{pool_id}"
        ),
        **(extra_claims or {}),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid, "typ": "JWS"})


class TokenRejected(Exception):
    def __init__(self, kind: str, message: str, *, expired_at: float | None = None):
        super().__init__(message)
        self.kind = kind  # "malformed" | "foreign" | "signature" | "expired"
        self.message = message
        self.expired_at = expired_at


def is_own_token(token: str) -> bool:
    """Whether an (unverified) JWT names this server as its issuer."""
    try:
        claims = jwt.decode(token, options=_UNVERIFIED)
    except jwt.PyJWTError:
        return False
    return claims.get("iss") == settings.COGNATE_ISSUER_URL


def openid_token_claims(token: str, *, now: float | None = None) -> dict:
    """The claims of a token this server issued, once its signature and expiry check out."""
    now = clock.now() if now is None else now
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options=_UNVERIFIED)
    except jwt.PyJWTError:
        raise TokenRejected("malformed", "The ID Token provided is not a valid JWT.") from None
    if unverified.get("iss") != settings.COGNATE_ISSUER_URL:
        raise TokenRejected(
            "foreign",
            f"No OpenIDConnect provider found for the issuer {unverified.get('iss')!r}.",
        )
    key = signing_keys.public_key(str(header.get("kid", "")))
    if key is None or header.get("alg") != ALGORITHM:
        raise TokenRejected("signature", "The token is not signed by a key of this issuer.")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={"verify_aud": False, "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        raise TokenRejected("signature", "The token's signature is not valid.") from None
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or not isinstance(claims.get("sub"), str):
        raise TokenRejected("malformed", "The token lacks the exp or sub claim.")
    if now >= exp:
        raise TokenRejected(
            "expired",
            f"Token expired: current date/time {int(now)} must be before the expiration "
            f"date/time {int(exp)}",
            expired_at=exp,
        )
    return claims


def jwks_document(now: float | None = None) -> dict:
    now = clock.now() if now is None else now
    return {"keys": [row.public_jwk for row in signing_keys_published(now=now)]}
