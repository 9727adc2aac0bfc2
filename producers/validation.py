"""Preparing a record for ``put`` and ``put_many``: serialise, validate, size.

:func:`record_preparer` makes the one preparation step both share: the event serialised
(a mapping in the envelope, checked by the rules consumers apply; bytes as they are), the
partition key and explicit hash key checked, the size checked against
``max_record_bytes``. It runs for every event, so the common case (a dict event, a short
ASCII key, no explicit hash key) takes the fewest steps; the rest of this module holds
everything else: events that are not plain dicts, unusual keys, and the construction of
each specific error with the limit or field it names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

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
    "Prepared",
    "Preparer",
    "checked_partition_key",
    "event_error",
    "explicit_hash",
    "record_preparer",
    "serialise",
    "too_large",
]


#: A record ready to buffer: ``(partition_key, data, explicit_hash_key, nbytes,
#: hash_value)``; ``nbytes`` is data plus key (what the record holds of the buffer),
#: ``hash_value`` the explicit hash key as an int (None without one).
Prepared: TypeAlias = tuple[str, bytes, str | None, int, int | None]
#: ``prepare(event, partition_key, explicit_hash_key, now_ms)``: see :func:`record_preparer`.
Preparer: TypeAlias = Callable[[Any, Any, Any, "int | None"], Prepared]

_encode_event = envelope.encode_event


def record_preparer(*, source: str, stream: str, max_record_bytes: int) -> Preparer:
    """The preparation step of a producer writing to ``stream``.

    ``prepare(event, partition_key, explicit_hash_key, now_ms)`` returns the
    :data:`Prepared` record or raises the :class:`~producers.InvalidRecordError` that
    names what is wrong; ``now_ms`` (Unix milliseconds, None: read the clock) is the time
    for the envelope, so a batch reads the clock once. A closure: its settings are local
    variables, the cheapest to read on a path that runs for every event.
    """

    max_key = MAX_PARTITION_KEY_LENGTH

    def prepare(
        event: Any, partition_key: Any, explicit_hash_key: Any, now_ms: int | None
    ) -> Prepared:
        if event.__class__ is dict:
            try:
                data = _encode_event(event, source, now_ms)
            except (TypeError, CoreInvalidEnvelopeError) as exc:
                raise event_error(exc, stream=stream) from exc
        else:
            data = serialise(event, source=source, stream=stream)
        if (
            partition_key.__class__ is str
            and 0 < len(partition_key) <= max_key
            and partition_key.isascii()
        ):
            nbytes = len(data) + len(partition_key)
        else:
            partition_key, key_bytes = checked_partition_key(partition_key, stream=stream)
            nbytes = len(data) + key_bytes
        if nbytes > max_record_bytes:
            raise too_large(nbytes, max_record_bytes, stream=stream)
        if explicit_hash_key is None:
            return partition_key, data, None, nbytes, None
        hash_value, explicit_hash_key = explicit_hash(explicit_hash_key, stream=stream)
        return partition_key, data, explicit_hash_key, nbytes, hash_value

    return prepare


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
    """A partition key the preparation's quick check did not pass: ``(key, UTF-8 bytes)``
    or :class:`InvalidPartitionKeyError`.

    The quick check accepts plain ASCII keys of 1 to 256 characters; this handles the rest.
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
