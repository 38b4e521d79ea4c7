"""Who is calling: an operator's access key or an identity's temporary credentials, proven by
a SigV4 signature (reference §1.7-1.8). Wire code asks `authenticate()` for the caller and
the caller for what it may do."""

from django.conf import settings

from aws.errors import AuthFailure, AwsError
from aws.sigv4 import ArrivedRequest, SignatureRefused, parse_authorization, verify
from identity import selectors, services, tokens
from identity.callers import Caller
from identity.credentials import Session, SessionRefused, is_revoked, session_open
from identity.models import AccessKey

_SESSION_KINDS = {"invalid": "unknown_key", "revoked": "unknown_key", "expired": "expired_token"}


def token_caller(token: str) -> Caller:
    """An identity proving itself with one of this server's OpenID tokens."""
    try:
        claims = tokens.openid_token_claims(token)
    except tokens.TokenRejected as rejected:
        kind = "expired_token" if rejected.kind == "expired" else "unknown_key"
        raise AuthFailure(kind, rejected.message) from None
    try:
        session = services.token_session(claims)
    except AwsError as error:
        raise AuthFailure("forbidden", error.message) from None
    if is_revoked(session.identity_id, session.pool_id, session.issued_at):
        raise AuthFailure(
            "unknown_key",
            "The OpenID token has been revoked (its identity was disabled, merged or deleted).",
        )
    return Caller(session=session)


def authenticate(arrived: ArrivedRequest, *, service: str, allow_bearer: bool = False) -> Caller:
    """The caller who signed `arrived` for `service` (or, where `allow_bearer`, presented
    an OpenID token as `Authorization: Bearer <token>`), or `AuthFailure`."""
    header = arrived.headers.get("authorization", "")
    if not header:
        raise AuthFailure(
            "missing",
            "Missing Authentication Token: this operation must be signed with SigV4, using an "
            "operator access key or temporary credentials"
            + (", or carry an OpenID token (Authorization: Bearer)." if allow_bearer else "."),
        )
    if allow_bearer and header[:7].lower() == "bearer ":
        return token_caller(header[7:].strip())
    try:
        authorization = parse_authorization(header)
    except SignatureRefused as refused:
        raise AuthFailure(refused.kind, refused.message) from None
    # IAM is global: its clients sign for us-east-1 unless told otherwise.
    regions = {settings.COGNATE_REGION} | ({"us-east-1"} if service == "iam" else set())
    if authorization.region not in regions:
        raise AuthFailure(
            "bad_signature",
            f"Credential should be scoped to a valid region, not '{authorization.region}'. "
            f"This server's region is '{settings.COGNATE_REGION}': configure your client with it.",
        )
    if authorization.service != service:
        raise AuthFailure(
            "bad_signature",
            f"Credential should be scoped to correct service: '{service}', not "
            f"'{authorization.service}'.",
        )
    token = arrived.headers.get("x-amz-security-token")
    key: AccessKey | None = None
    session: Session | None = None
    if token:
        try:
            session = session_open(authorization.access_key_id, token)
        except SessionRefused as refused:
            raise AuthFailure(_SESSION_KINDS[refused.kind], refused.message) from None
        secret = session.secret_key
    else:
        key = selectors.access_key_get(authorization.access_key_id)
        if key is None or not (key.user.is_active and key.user.is_staff):
            raise AuthFailure(
                "unknown_key", "The security token included in the request is invalid."
            )
        secret = services.access_key_secret(key)
    try:
        verify(arrived, authorization, secret, max_skew=settings.COGNATE_SIGV4_CLOCK_SKEW)
    except SignatureRefused as refused:
        raise AuthFailure(refused.kind, refused.message) from None
    if key is not None:
        services.access_key_touch(key=key)
    return Caller(key=key, session=session)
