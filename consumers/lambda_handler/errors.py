"""Errors of the Lambda handler, in the consumers' exception tree."""

from __future__ import annotations

from consumers.errors import ConsumerError, EventProcessingError

__all__ = [
    "AttemptStoreError",
    "EventProcessingError",
    "LambdaHandlerError",
    "ShardCircuitBreakerError",
]


class LambdaHandlerError(ConsumerError):
    """Base class of the Lambda handler's errors."""


class AttemptStoreError(LambdaHandlerError):
    """The attempts table could not be read or written (the record is retried)."""


class ShardCircuitBreakerError(LambdaHandlerError):
    """An earlier record of the same shard failed in this batch, so this one was not tried:
    Lambda retries the shard from the first failure, in order."""
