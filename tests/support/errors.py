"""What a botocore call refused with: the AWS error's code, message and HTTP status."""

from typing import NamedTuple


class AwsError(NamedTuple):
    code: str
    message: str
    status: int


def error_of(excinfo) -> AwsError:
    """The error of a `pytest.raises(ClientError)`: compare it whole or by index
    (`[:2]` code and message, `[0::2]` code and status)."""
    response = excinfo.value.response
    return AwsError(
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )
