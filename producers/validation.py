"""Input checks for ``put``: serialising an event, and the errors that name the bad field.

``put`` keeps the common case inline (a dict event, a short ASCII key) because it runs for
every event; this module holds everything else: events that are not plain dicts, and the
construction of each specific error with the limit or field it names.
"""

from __future__ import annotations

from collections.abc import Mapping

from producers.exceptions import (
    InvalidEventError,
    InvalidExplicitHashKeyError,
    InvalidPartitionKeyError,
    ProducerError,
    RecordTooLargeError,
    SerializationError,
)
from shardflow import envelope
from shardflow.errors import InvalidEnvelopeError
from shardflow.hashing import MAX_PARTITION_KEY_LENGTH, parse_explicit_hash_key

__all__ = [
    "event_error",
    "explicit_hash",
    "partition_key_error",
    "serialise",
    "too_large",
]


def serialise(event: object, *, source: str, stream: str) -> bytes:
    """The bytes to send for ``event``: the envelope for a mapping, bytes as they are."""
    if isinstance(event, bytes):
        return event
    if isinstance(event, bytearray | memoryview):
        return bytes(event)
    if isinstance(event, Mapping):
        try:
            return envelope.encode_event(event, default_source=source)
        except (TypeError, InvalidEnvelopeError) as exc:
            raise event_error(exc, stream=stream) from exc
    raise SerializationError(
        "event must be a mapping (sent in the envelope) or bytes (sent as-is), "
        f"got {type(event).__name__}",
        field="event",
        stream=stream,
    )


def event_error(exc: Exception, *, stream: str) -> ProducerError:
    """The producer's error for an event the envelope or orjson refused."""
    if isinstance(exc, InvalidEnvelopeError):
        return InvalidEventError(str(exc), field=exc.field or "event", stream=stream)
    return SerializationError(
        f"event cannot be serialised to JSON ({exc}); events may hold str, int, float, "
        "bool, None, dict, list, tuple, datetime, date, UUID, enum and dataclass values",
        field="event",
        stream=stream,
    )


def partition_key_error(partition_key: object, *, stream: str) -> InvalidPartitionKeyError:
    """The error for a partition key that is not a string of 1 to 256 characters."""
    if not isinstance(partition_key, str):
        msg = f"partition_key must be a str, got {type(partition_key).__name__}"
    elif not partition_key:
        msg = "partition_key must not be empty (Kinesis needs 1 to 256 characters)"
    else:
        msg = (
            f"partition_key has {len(partition_key)} characters, more than the "
            f"{MAX_PARTITION_KEY_LENGTH} Kinesis allows"
        )
    return InvalidPartitionKeyError(msg, field="partition_key", stream=stream)


def too_large(nbytes: int, limit: int, *, stream: str) -> RecordTooLargeError:
    """The error for a record of ``nbytes`` (data plus key) over ``max_record_bytes``."""
    return RecordTooLargeError(
        f"record is {nbytes} bytes (data plus partition key), more than max_record_bytes={limit}",
        size=nbytes,
        limit=limit,
        stream=stream,
    )


def explicit_hash(explicit_hash_key: object, *, stream: str) -> int:
    """The explicit hash key as an int, or :class:`InvalidExplicitHashKeyError`."""
    if not isinstance(explicit_hash_key, str):
        raise InvalidExplicitHashKeyError(
            f"explicit_hash_key must be a str, got {type(explicit_hash_key).__name__}",
            field="explicit_hash_key",
            stream=stream,
        )
    try:
        return parse_explicit_hash_key(explicit_hash_key)
    except ValueError as exc:
        raise InvalidExplicitHashKeyError(
            str(exc), field="explicit_hash_key", stream=stream
        ) from exc
