"""The one error hierarchy of the AWS endpoints. Services and wire code raise these; each
protocol's renderer (`aws.render`) turns them into that protocol's error shape and
status (reference §1.6)."""

import logging
import re

from django.db import DatabaseError, InterfaceError, OperationalError

logger = logging.getLogger(__name__)

# What cannot travel in a UTF-8 JSON or XML answer: lone surrogates and control characters.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` with lone surrogates and control characters written as `\\uXXXX` escapes, so
    that an answer quoting what a client sent can always be rendered."""
    return _UNPRINTABLE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


class AwsError(Exception):
    """A client error with an AWS error code and a message a person can act on."""

    code = "InternalErrorException"
    # Codes that differ in the query protocol (STS, IAM).
    query_code: str | None = None
    # An explicit status wins over the protocol's own choice.
    status: int | None = None

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        message = printable(message)
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class InvalidParameter(AwsError):
    code = "InvalidParameterException"
    query_code = "InvalidParameterValue"


class ValidationFailed(AwsError):
    """A value broke a constraint of the service model (pattern, length, range, required)."""

    code = "ValidationException"
    query_code = "ValidationError"


class SerializationFailed(AwsError):
    """The request body could not be read as the protocol requires."""

    code = "SerializationException"
    query_code = "MalformedInput"


class ResourceNotFound(AwsError):
    code = "ResourceNotFoundException"
    query_code = "NoSuchEntity"


class NotAuthorized(AwsError):
    code = "NotAuthorizedException"
    query_code = "AccessDenied"


class ResourceConflict(AwsError):
    code = "ResourceConflictException"


class LimitExceeded(AwsError):
    code = "LimitExceededException"
    query_code = "LimitExceeded"


class TooManyRequests(AwsError):
    """Answered 429 in every protocol, with Retry-After: the status every SDK's retry logic
    reads as "slow down" (botocore's legacy mode retries a 429, not a 400)."""

    code = "TooManyRequestsException"
    query_code = "Throttling"
    status = 429

    def __init__(self, message: str, *, retry_after: int | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InvalidIdentityPoolConfiguration(AwsError):
    code = "InvalidIdentityPoolConfigurationException"


class DeveloperUserAlreadyRegistered(AwsError):
    code = "DeveloperUserAlreadyRegisteredException"


class InvalidConfiguration(AwsError):
    code = "InvalidConfigurationException"


class UnknownOperation(AwsError):
    code = "UnknownOperationException"
    query_code = "InvalidAction"


class RequestTooLarge(AwsError):
    code = "RequestEntityTooLargeException"
    query_code = "RequestEntityTooLarge"
    status = 413


class InternalError(AwsError):
    code = "InternalErrorException"
    query_code = "InternalFailure"
    status = 500


def internal_failure(exception: Exception) -> InternalError:
    """What a client is told of a fault of the server (already logged): only a database that
    cannot be reached is called so, since clients retry that."""
    if isinstance(exception, OperationalError | InterfaceError):
        return InternalError("The service could not reach its database; try again shortly.")
    if isinstance(exception, DatabaseError):
        return InternalError(
            "The service failed to store or read the data of this request; it has been logged."
        )
    return InternalError("The service failed to handle the request; it has been logged.")


def failure_of(exception: Exception, where: str) -> AwsError:
    """The error a request is answered with when handling it raised `exception`: an AwsError
    as it is; anything else is a fault of the server, logged here with `where` (the path),
    and told as `internal_failure`. Every protocol's answer ends with it."""
    if isinstance(exception, AwsError):
        return exception
    logger.error("failed to answer %s", where, exc_info=exception)
    return internal_failure(exception)


class AuthFailure(AwsError):
    """The request's signature or credentials were refused. The code depends on the
    protocol (JSON services and the query protocol name these differently)."""

    # kind -> (JSON code, query code, query status)
    KINDS = {
        "missing": ("MissingAuthenticationTokenException", "MissingAuthenticationToken", 403),
        "incomplete": ("IncompleteSignatureException", "IncompleteSignature", 400),
        "unknown_key": ("UnrecognizedClientException", "InvalidClientTokenId", 403),
        "bad_signature": ("InvalidSignatureException", "SignatureDoesNotMatch", 403),
        "expired_token": ("ExpiredTokenException", "ExpiredToken", 400),
        "forbidden": ("NotAuthorizedException", "AccessDenied", 403),
    }

    def __init__(self, kind: str, message: str):
        code, query_code, query_status = self.KINDS[kind]
        super().__init__(message, code=code)
        self.kind = kind
        self.query_code = query_code
        self.query_status = query_status


# STS error codes (reference §1.6: the <Code> is the model's error code, not the shape name).
class InvalidIdentityToken(AwsError):
    code = query_code = "InvalidIdentityToken"


class ExpiredToken(AwsError):
    code = query_code = "ExpiredTokenException"


class MalformedPolicyDocument(AwsError):
    code = query_code = "MalformedPolicyDocument"


class PackedPolicyTooLarge(AwsError):
    code = query_code = "PackedPolicyTooLarge"


# IAM error codes.
class EntityAlreadyExists(AwsError):
    code = query_code = "EntityAlreadyExists"
    status = 409


class NoSuchEntity(AwsError):
    code = query_code = "NoSuchEntity"
    status = 404


class AccessDenied(AwsError):
    code = query_code = "AccessDenied"
    status = 403


# Cognito Sync: BulkPublish and Sync Triggers.
class DuplicateRequest(AwsError):
    code = "DuplicateRequestException"


class AlreadyStreamed(AwsError):
    code = "AlreadyStreamedException"


class LambdaThrottled(AwsError):
    code = "LambdaThrottledException"


class InvalidLambdaFunctionOutput(AwsError):
    code = "InvalidLambdaFunctionOutputException"


class LambdaSocketTimeout(AwsError):
    """The trigger did not answer in time. Not in the service model: its status (400, so
    SDKs do not repeat a slow trigger) is Cognate's choice, docs/operations.md."""

    code = "LambdaSocketTimeoutException"
    status = 400
