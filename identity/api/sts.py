"""STS on the `/aws` endpoint (query protocol, XML): AssumeRoleWithWebIdentity for the classic
flow and GetCallerIdentity to check any credential (reference §1.5, §2.5)."""

import base64
import hashlib
import json
from datetime import UTC, datetime

from django.conf import settings

from aws import registry, shapes
from aws.errors import (
    AccessDenied,
    ExpiredToken,
    InvalidIdentityToken,
    MalformedPolicyDocument,
    PackedPolicyTooLarge,
    ValidationFailed,
)
from identity import credentials, policies, roles, selectors, services, tokens
from identity.auth import Caller, authenticate

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
VERSION = "2011-06-15"
SERVICE = registry.service("sts", authenticate=authenticate, version=VERSION, namespace=NAMESPACE)
operation = SERVICE.operation
# Real STS reports this provider for tokens of Cognito's issuer (reference §1.5).
COGNITO_PROVIDER = "cognito-identity.amazonaws.com"
_MAX_POLICY_CHARS = 2048


def _session_policy(text: str | None) -> dict | None:
    if text is None:
        return None
    document = shapes.load_json(text, error=MalformedPolicyDocument, what="session Policy")
    problems = policies.document_errors(document)
    if problems:
        raise MalformedPolicyDocument("The session Policy is malformed: " + " ".join(problems))
    return document


@operation("AssumeRoleWithWebIdentity")
def assume_role_with_web_identity(caller: Caller | None, params: dict) -> dict:
    try:
        claims = tokens.openid_token_claims(params["WebIdentityToken"])
    except tokens.TokenRejected as rejected:
        if rejected.kind == "expired":
            raise ExpiredToken(rejected.message) from None
        raise InvalidIdentityToken(rejected.message) from None
    identity_id, pool_id = claims["sub"], str(claims.get("aud"))
    amr = [str(value) for value in claims.get("amr", [])]
    if credentials.is_revoked(identity_id, pool_id, float(claims.get("iat", 0))):
        raise InvalidIdentityToken(
            "The web identity token has been revoked (its identity was disabled, merged or "
            "deleted). Get a new token."
        )
    role = selectors.role_view(params["RoleArn"])
    if role is None or not roles.role_trusts(
        role, pool_id=pool_id, identity_id=identity_id, amr=amr
    ):
        raise AccessDenied("Not authorized to perform sts:AssumeRoleWithWebIdentity")
    duration = params.get("DurationSeconds", 3600)
    if duration > role.max_session_duration:
        raise ValidationFailed(
            f"The requested DurationSeconds exceeds the MaxSessionDuration set for this role "
            f"({role.max_session_duration} seconds)."
        )
    if params.get("PolicyArns"):
        raise ValidationFailed(
            "PolicyArns (managed session policies) are not supported by this server; pass the "
            "session policy inline in Policy."
        )
    policy = _session_policy(params.get("Policy"))
    packed = 0
    if policy is not None:
        packed = len(json.dumps(policy, separators=(",", ":"))) * 100 // _MAX_POLICY_CHARS
        if packed > 100:
            raise PackedPolicyTooLarge(
                f"The session policy is {packed}% of the allowed size; shorten it."
            )
    session_name = params["RoleSessionName"]
    creds = credentials.credentials_issue(
        identity_id=identity_id,
        pool_id=pool_id,
        role_arn=role.arn,
        role_id=role.role_id,
        amr=amr,
        duration=duration,
        session_name=session_name,
        session_policy=policy,
        principal_tags=services.tags_from_claims(claims),
    )
    result = {
        "Credentials": {
            "AccessKeyId": creds.access_key_id,
            "SecretAccessKey": creds.secret_key,
            "SessionToken": creds.session_token,
            "Expiration": datetime.fromtimestamp(creds.expiration, UTC),
        },
        "SubjectFromWebIdentityToken": identity_id,
        "AssumedRoleUser": {
            "Arn": creds.session.arn,
            "AssumedRoleId": f"{role.role_id}:{session_name}",
        },
        "Provider": COGNITO_PROVIDER,
        "Audience": pool_id,
    }
    if policy is not None:
        result["PackedPolicySize"] = packed
    return result


def user_id(user) -> str:
    """A stable IAM-style unique id (AIDA…) for a Django user."""
    digest = hashlib.sha256(f"cognate-user:{user.pk}".encode()).digest()
    return "AIDA" + base64.b32encode(digest).decode()[:17]


@operation("GetCallerIdentity")
def get_caller_identity(caller: Caller | None, params: dict) -> dict:
    assert caller is not None
    if caller.key is not None:
        unique = user_id(caller.key.user)
    else:
        assert caller.session is not None
        unique = f"{caller.session.role_id}:{caller.session.session_name}"
    return {"UserId": unique, "Account": settings.COGNATE_ACCOUNT_ID, "Arn": caller.arn}
