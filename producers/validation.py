"""Input checks for ``put``: serialising an event, and the errors that name the bad field.

``put`` keeps the common case inline (a dict event, a short ASCII key) because it runs for
every event; this module holds everything else: events that are not plain dicts, and the
construction of each specific error with the limit or field it names.
"""

from __future__ import annotations

from collections.abc import Mapping

from producers.exceptions import (
    InvalidEnvelopeError,
    InvalidExplicitHashKeyError,
    InvalidPartitionKeyError,
    ProducerError,
    RecordTooLargeError,
    SerializationError,
)
from shardflow import envelope
from shardflow.errors import InvalidEnvelopeError as CoreInvalidEnvelopeError
from shardflow.hashing import MAX_PARTITION_KEY_LENGTH, parse_explicit_hash_key

__all__ = [
    "checked_partition_key",
    "event_error",
    "explicit_hash",
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
        except (TypeError, CoreInvalidEnvelopeError) as exc:
            raise event_error(exc, stream=stream) from exc
    raise SerializationError(
        "event must be a mapping (sent in the envelope) or bytes (sent as-is), "
        f"got {type(event).__name__}",
        field="event",
        stream=stream,
    )


def event_error(exc: Exception, *, stream: str) -> ProducerError:
    """The producer's error for an event the envelope or orjson refused."""
    if isinstance(exc, CoreInvalidEnvelopeError):
        return InvalidEnvelopeError(str(exc), field=exc.field or "event", stream=stream)
    return SerializationError(
        f"event cannot be serialised to JSON ({exc}); events may hold str, int, float, "
        "bool, None, dict, list, tuple, datetime, date, UUID, enum and dataclass values",
        field="event",
        stream=stream,
    )


def checked_partition_key(partition_key: object, *, stream: str) -> tuple[str, int]:
    """A partition key ``put``'s inline check did not pass: ``(key, UTF-8 bytes)`` or
    :class:`InvalidPartitionKeyError`.

    ``put`` accepts plain ASCII keys of 1 to 256 characters inline; this handles the rest.
    A ``str`` subclass (a ``StrEnum`` member) is sent as its plain string value. The length
    is counted in UTF-16 code units, as the KPL and the service count it (a character
    outside the Basic Multilingual Plane, an emoji, counts twice), so a key Kinesis would
    refuse is refused here, before it can fail the whole PutRecords call it travels in.
    """
    if not isinstance(partition_key, str):
        raise _key_error(f"partition_key must be a str, got {type(partition_key).__name__}", stream)
    key = str.__str__(partition_key)  # an exact str, also for a str subclass
    try:
        nbytes = len(key.encode())
    except UnicodeEncodeError as exc:
        raise _key_error(
            f"partition_key is not valid Unicode text (lone surrogate at index {exc.start})",
            stream,
        ) from exc
    units = len(key) if key.isascii() else len(key.encode("utf-16-le")) // 2
    if not key:
        raise _key_error(
            "partition_key must not be empty (Kinesis needs 1 to 256 characters)", stream
        )
    if units > MAX_PARTITION_KEY_LENGTH:
        counted = "" if key.isascii() else " (counted in UTF-16 code units, as Kinesis does)"
        raise _key_error(
            f"partition_key has {units} characters, more than the "
            f"{MAX_PARTITION_KEY_LENGTH} Kinesis allows{counted}",
            stream,
        )
    return key, nbytes


def _key_error(message: str, stream: str) -> InvalidPartitionKeyError:
    return InvalidPartitionKeyError(message, field="partition_key", stream=stream)


def too_large(nbytes: int, limit: int, *, stream: str) -> RecordTooLargeError:
    """The error for a record of ``nbytes`` (data plus key) over ``max_record_bytes``."""
    return RecordTooLargeError(
        f"record is {nbytes} bytes (data plus partition key), more than max_record_bytes={limit}",
        size=nbytes,
        limit=limit,
        stream=stream,
    )


def explicit_hash(explicit_hash_key: object, *, stream: str) -> tuple[int, str]:
    """The explicit hash key as an int and in the decimal form Kinesis accepts (no leading
    zeros: ``"007"`` is sent as ``"7"``), or :class:`InvalidExplicitHashKeyError`."""
    if not isinstance(explicit_hash_key, str):
        raise InvalidExplicitHashKeyError(
            f"explicit_hash_key must be a str, got {type(explicit_hash_key).__name__}",
            field="explicit_hash_key",
            stream=stream,
        )
    try:
        value = parse_explicit_hash_key(explicit_hash_key)
    except ValueError as exc:
        raise InvalidExplicitHashKeyError(
            str(exc), field="explicit_hash_key", stream=stream
        ) from exc
    text = explicit_hash_key
    if text.__class__ is not str or (len(text) > 1 and text[0] == "0"):
        text = str(value)
    return value, text
