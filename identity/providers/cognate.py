"""This server's own OpenID tokens (from GetOpenIdToken or
GetOpenIdTokenForDeveloperIdentity) under the Logins key cognito-identity.amazonaws.com:
the token's identity is the one it proves."""

from identity import credentials, tokens
from identity.providers.base import LoginRejected, Provider, VerifiedLogin
from identity.selectors import PoolView

KEY = "cognito-identity.amazonaws.com"


class CognateTokens(Provider):
    key = KEY
    name = "Cognate"

    def handles(self, key: str, pool: PoolView) -> bool:
        return key == KEY

    def verify(self, key: str, token: str, pool: PoolView) -> VerifiedLogin:
        try:
            claims = tokens.openid_token_claims(token)
        except tokens.TokenRejected as rejected:
            raise LoginRejected(f"Invalid login token. {rejected.message}") from None
        if claims.get("aud") != pool.id:
            raise LoginRejected("Invalid login token. Incorrect token audience.")
        identity_id = claims["sub"]
        if credentials.is_revoked(identity_id, pool.id, float(claims.get("iat", 0))):
            raise LoginRejected("Invalid login token. The token has been revoked.")
        return VerifiedLogin(
            provider=key, subject=identity_id, claims=claims, identity_id=identity_id
        )
