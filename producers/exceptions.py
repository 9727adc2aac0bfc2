"""Every error the producer raises, or completes a record's future with.

Errors raised by :meth:`~producers.EventProducer.put` (bad input, closed producer, full
buffer) are raised in the caller's thread before anything is buffered. Errors that end a
record's delivery later (non-retryable AWS error, time to live exceeded) complete the
record's future and are passed to the producer's ``on_failure`` callback: nothing is
dropped silently.

::

    ShardflowError
    └── ProducerError                  stream, shard_id, error_code
        ├── InvalidRecordError         field            (ValueError)
        │   ├── InvalidPartitionKeyError
        │   ├── InvalidExplicitHashKeyError
        │   ├── RecordTooLargeError    size, limit
        │   ├── SerializationError                      (also TypeError)
        │   └── InvalidEventError
        │       └── InvalidEnvelopeError  (also shardflow.errors.InvalidEnvelopeError)
        ├── ProducerClosedError
        ├── StreamNotFoundError           (also shardflow.errors.StreamNotFoundError)
        ├── BufferFullError            limit, timeout
        ├── FlushTimeoutError          pending
        └── DeliveryError              attempts
            └── RecordExpiredError     ttl
"""

from __future__ import annotations

from typing import Any

from shardflow import errors as _core
from shardflow.errors import InvalidEnvelopeError as _CoreInvalidEnvelopeError
from shardflow.errors import ShardflowError

__all__ = [
    "BufferFullError",
    "DeliveryError",
    "FlushTimeoutError",
    "InvalidEnvelopeError",
    "InvalidEventError",
    "InvalidExplicitHashKeyError",
    "InvalidPartitionKeyError",
    "InvalidRecordError",
    "ProducerClosedError",
    "ProducerError",
    "RecordExpiredError",
    "RecordTooLargeError",
    "SerializationError",
    "StreamNotFoundError",
]


class ProducerError(ShardflowError):
    """Base of the producer's errors, with the context that was known when it happened.

    ``error_code`` is the AWS error code (``ProvisionedThroughputExceededException``,
    ``ResourceNotFoundException``, …) when the error came from Kinesis. The context that is
    set is named after the message (:class:`~shardflow.errors.ShardflowError`'s format).
    """

    def __init__(
        self,
        message: str,
        *,
        stream: str | None = None,
        shard_id: str | None = None,
        error_code: str | None = None,
    ) -> None:
        super().__init__(message, stream=stream, shard_id=shard_id, error_code=error_code)


class InvalidRecordError(ProducerError, ValueError):
    """``put`` rejected a record before buffering it; ``field`` names what was wrong."""

    def __init__(self, message: str, *, field: str, stream: str | None = None) -> None:
        super().__init__(message, stream=stream)
        self.field = field


class InvalidPartitionKeyError(InvalidRecordError):
    """The partition key is not a string of 1 to 256 characters."""


class InvalidExplicitHashKeyError(InvalidRecordError):
    """The explicit hash key is not a decimal integer in [0, 2**128 - 1]."""


class RecordTooLargeError(InvalidRecordError):
    """The record (data plus partition key) is larger than ``max_record_bytes``."""

    def __init__(self, message: str, *, size: int, limit: int, stream: str | None = None) -> None:
        super().__init__(message, field="max_record_bytes", stream=stream)
        self.size = size
        self.limit = limit


class SerializationError(InvalidRecordError, TypeError):
    """The event cannot be serialised to JSON (or is neither a mapping nor bytes)."""


class InvalidEventError(InvalidRecordError):
    """The event is not a valid envelope (for example it has no string ``type``)."""


class InvalidEnvelopeError(InvalidEventError, _CoreInvalidEnvelopeError):
    """The envelope breaks a rule every consumer checks; ``field`` names the attribute.

    ``id``, ``source`` and ``type`` must be non-empty strings and ``time`` an RFC 3339
    timestamp with a UTC offset (see :mod:`shardflow.envelope`): a consumer would
    dead-letter the event as ``invalid_envelope``, so ``put`` refuses it instead. It is
    also a :class:`shardflow.errors.InvalidEnvelopeError`, the error consumers report.
    """

    field: str


class ProducerClosedError(ProducerError):
    """``put`` after ``close()``, or a record still unsent when ``close(timeout)`` ran out."""


class StreamNotFoundError(ProducerError, _core.StreamNotFoundError):
    """The stream does not exist (Kinesis answered ``ResourceNotFoundException``): the one
    :class:`shardflow.errors.StreamNotFoundError`, as a :class:`ProducerError`."""


class BufferFullError(ProducerError):
    """``put`` waited ``timeout`` seconds for room in a buffer of ``limit`` bytes.

    From ``put_many``, ``accepted`` holds the futures of the records accepted before the
    buffer filled up (they are delivered as usual); the rest were not buffered.
    """

    def __init__(self, message: str, *, limit: int, timeout: float, stream: str) -> None:
        super().__init__(message, stream=stream)
        self.limit = limit
        self.timeout = timeout
        self.accepted: list[Any] = []


class FlushTimeoutError(ProducerError):
    """``flush(timeout)`` returned with ``pending`` records still undelivered."""

    def __init__(self, message: str, *, pending: int, stream: str) -> None:
        super().__init__(message, stream=stream)
        self.pending = pending


class DeliveryError(ProducerError):
    """Kinesis did not accept the record and retrying cannot help (or is not allowed)."""

    def __init__(
        self,
        message: str,
        *,
        stream: str | None = None,
        shard_id: str | None = None,
        error_code: str | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message, stream=stream, shard_id=shard_id, error_code=error_code)
        self.attempts = attempts


class RecordExpiredError(DeliveryError):
    """The record was not delivered within ``record_ttl`` seconds of ``put``.

    ``error_code`` is the last error Kinesis returned for it (None when it never got a
    chance to be sent, for example behind the per-shard rate limit).
    """

    def __init__(
        self,
        message: str,
        *,
        ttl: float,
        stream: str | None = None,
        shard_id: str | None = None,
        error_code: str | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(
            message, stream=stream, shard_id=shard_id, error_code=error_code, attempts=attempts
        )
        self.ttl = ttl
