"""Retry policy: which failures are worth retrying, and when.

Only the failed entries of a PutRecords response are sent again. The delay before attempt
``n + 1`` is drawn uniformly from ``[0, min(max_delay, base_delay * 2**(n - 1))]`` ("full
jitter", which spreads retries of many producers better than a fixed exponential
schedule), and a record is given up with :class:`~producers.RecordExpiredError` when its
next attempt would start after ``record_ttl`` seconds from its ``put``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

__all__ = ["RETRYABLE_ERROR_CODES", "THROTTLING_ERROR_CODES", "Backoff", "is_retryable"]

#: Per-entry and whole-request error codes that mean "the shard or the service is busy".
THROTTLING_ERROR_CODES: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "LimitExceededException",
        "KMSThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
    }
)

#: Error codes a later attempt can succeed on. Everything else (ResourceNotFoundException,
#: AccessDeniedException, ExpiredTokenException, ValidationException, KMS key problems
#: other than KMSThrottlingException, NoCredentialsError, …) fails the record at once.
RETRYABLE_ERROR_CODES: Final = THROTTLING_ERROR_CODES | frozenset(
    {
        "InternalFailure",
        "InternalFailureException",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "ResourceInUseException",
        # Not an AWS code: the request never got an HTTP answer (connection reset, read
        # timeout). It may have been written, so a retry can duplicate it (at least once).
        "ConnectionError",
        # botocore names an error by its HTTP status when the body carries no error code
        # (a proxy's or load balancer's page in front of the endpoint).
        "500",
        "502",
        "503",
        "504",
    }
)


def is_retryable(error_code: str) -> bool:
    """True when an entry that failed with ``error_code`` may succeed if sent again."""
    return error_code in RETRYABLE_ERROR_CODES


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter."""

    base_delay: float
    max_delay: float

    def ceiling(self, attempts: int) -> float:
        """The largest delay after ``attempts`` failed attempts (``attempts >= 1``)."""
        # min() before the power would overflow for a record failing hundreds of times.
        exponent = min(max(attempts - 1, 0), 62)
        return float(min(self.max_delay, self.base_delay * (1 << exponent)))

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        """A random delay in ``[0, ceiling(attempts)]``."""
        return (rng or _RNG).uniform(0.0, self.ceiling(attempts))


_RNG = random.Random()
