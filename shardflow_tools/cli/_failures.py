"""Expected failures of any command, as one line and an exit code.

An operator's common mistakes (the emulator not running, a malformed variable, a resource
not created yet, no credentials) deserve one line naming the problem and what to do, not a
traceback: exit 2 for usage and configuration errors, 1 for runtime failures. Anything not
recognised here is a bug and keeps its traceback; ``--debug`` shows it for these too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from shardflow import aws
from shardflow.errors import ConfigError, ShardflowError

EXIT_RUNTIME: Final = 1
EXIT_USAGE: Final = 2

_START_ENDPOINT: Final = (
    "start the emulator (`shardflow local`) or LocalStack, or point --endpoint-url or "
    "AWS_ENDPOINT_URL at the right endpoint"
)
_MISSING_CODES: Final = frozenset(
    {
        "ResourceNotFoundException",
        "AWS.SimpleQueueService.NonExistentQueue",
        "NonExistentQueue",
        "QueueDoesNotExist",
        "NoSuchBucket",
    }
)


@dataclass(frozen=True)
class Failure:
    """What to print (after ``shardflow COMMAND: ``) and the exit code."""

    message: str
    code: int


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _unreachable(exc: BaseException) -> Failure:
    url = getattr(exc, "kwargs", {}).get("endpoint_url", "")
    where = url.split("?", 1)[0].rstrip("/") if url else "the AWS endpoint"
    return Failure(f"cannot reach {where}: {_START_ENDPOINT}", EXIT_RUNTIME)


def _client_error(exc: ClientError) -> Failure:
    code = aws.error_code(exc) or "error"
    text = exc.response.get("Error", {}).get("Message") or str(exc)
    operation = getattr(exc, "operation_name", "the call")
    message = f"{operation} failed: {code}: {text}"
    if code in _MISSING_CODES:
        message += " (create the resources with `shardflow bootstrap`, or check the name)"
    return Failure(message, EXIT_RUNTIME)


def _botocore_failure(exc: BaseException) -> Failure | None:
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return _unreachable(exc)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return Failure(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any "
            "value for an emulator) or AWS_PROFILE",
            EXIT_USAGE,
        )
    if isinstance(exc, NoRegionError):
        return Failure("no AWS region: set AWS_REGION or pass --region", EXIT_USAGE)
    return None


def expected_failure(exc: BaseException) -> Failure | None:
    """The one-line report of ``exc``, or None when it is not an expected failure."""
    for cause in _chain(exc):
        if (found := _botocore_failure(cause)) is not None:
            return found
    if isinstance(exc, ConfigError):
        return Failure(str(exc), EXIT_USAGE)
    if isinstance(exc, ClientError):
        return _client_error(exc)
    if isinstance(exc, ShardflowError | OSError):
        return Failure(str(exc) or type(exc).__name__, EXIT_RUNTIME)
    return None


__all__ = ("EXIT_RUNTIME", "EXIT_USAGE", "Failure", "expected_failure")
