"""Errors of the Lambda handler, in the consumers' exception tree."""

from __future__ import annotations

from consumers.errors import ConsumerError


class LambdaHandlerError(ConsumerError):
    """Base class of the Lambda handler's errors."""


class EventProcessingError(LambdaHandlerError):
    """The event processing function raised for an event (its record is reported as failed).

    ``event_id`` names the event and ``attempt`` counts this failure (of ``max_attempts``).
    """

    def __init__(
        self,
        message: str,
        *,
        event_id: str,
        attempt: int,
        max_attempts: int,
        stream: str | None = None,
        shard_id: str | None = None,
        sequence_number: str | None = None,
    ) -> None:
        super().__init__(
            f"{message} (event {event_id}, attempt {attempt} of {max_attempts})",
            stream=stream,
            shard_id=shard_id,
            sequence_number=sequence_number,
        )
        self.event_id = event_id
        self.attempt = attempt
        self.max_attempts = max_attempts


class AttemptStoreError(LambdaHandlerError):
    """The attempts table could not be read or written (the record is retried)."""


class ShardCircuitBreakerError(LambdaHandlerError):
    """An earlier record of the same shard failed in this batch, so this one was not tried:
    Lambda retries the shard from the first failure, in order."""
