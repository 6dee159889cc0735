"""AWS errors that a later attempt can fix, told apart from those it cannot.

botocore already retries throttling and 5xx a few times; what still escapes is raised as
AwsTransientError, which the state machine retries with backoff. Everything else (access
denied, a missing table) propagates unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from lemlist_export.core.errors import AwsTransientError

# The one list of AWS error codes a later attempt can fix, for every service the stack calls.
TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "InternalServerError",
        "InternalServiceError",
        "InternalFailure",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
    }
)


def is_transient(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return code in TRANSIENT_CODES or status >= 500


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


@contextmanager
def transient_aws_errors(what: str) -> Iterator[None]:
    """Raise AwsTransientError for throttling, 5xx and network failures inside the block."""
    try:
        yield
    except ClientError as exc:
        if is_transient(exc):
            code = error_code(exc)
            raise AwsTransientError(f"{what} failed: {code}", operation=what, code=code) from None
        raise
    except BotoCoreError as exc:
        code = type(exc).__name__
        raise AwsTransientError(f"{what} failed: {code}", operation=what, code=code) from None
