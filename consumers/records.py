"""What the consumers pass around: records as delivered, decoded events, poison records.

A :class:`KinesisRecord` is one record as a consumer receives it (from GetRecords, a Lambda
event or the KCL multilang protocol), possibly a KPL aggregate of many user records.
:func:`consumers.decode` turns it into :class:`Event` objects (one per user record) or
:class:`PoisonRecord` objects, each carrying its :class:`Origin`: where in the stream it came
from. An origin's :class:`Position` is what a consumer checkpoints.

``KinesisRecord``, ``Origin`` and ``Event`` are named tuples: immutable, and cheap enough to
create one per user record at hundreds of thousands per second.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, NamedTuple

from consumers.errors import RecordShapeError
from shardflow import envelope as _envelope

#: Why a record was dead-lettered.
PoisonReason = Literal["corrupt_aggregate", "invalid_envelope", "handler_failed", "schema_mismatch"]
POISON_REASONS: Final[tuple[PoisonReason, ...]] = (
    "corrupt_aggregate",
    "invalid_envelope",
    "handler_failed",
    "schema_mismatch",
)


def _sub_key(sub: int | None) -> int:
    # A plain (non-aggregated) record sorts before the first user record of an aggregate
    # with the same sequence number; KPL sub-sequence numbers start at 0.
    return -1 if sub is None else sub


@dataclass(frozen=True, slots=True)
class Position:
    """A place in a shard: what a checkpoint names.

    Ordered by the sequence number *as an integer* (Kinesis sequence numbers are decimal
    strings of up to 128 digits), then by the sub-sequence number, with ``None`` (a plain
    record, or an aggregate as a whole) before ``0``.

    ``str(position)`` is ``"SEQ"`` or ``"SEQ.SUB"``; :meth:`parse` reads it back.
    """

    sequence_number: str
    sub_sequence_number: int | None = None

    def __post_init__(self) -> None:
        if not self.sequence_number.isdigit():
            raise ValueError(
                f"sequence_number must be a decimal string, got {self.sequence_number!r}"
            )
        if self.sub_sequence_number is not None and self.sub_sequence_number < 0:
            raise ValueError(f"sub_sequence_number must be >= 0, got {self.sub_sequence_number}")

    @property
    def key(self) -> tuple[int, int]:
        """The sort key: ``(int(sequence_number), sub or -1)``."""
        return int(self.sequence_number), _sub_key(self.sub_sequence_number)

    @classmethod
    def parse(cls, text: str) -> Position:
        """The position written as ``"SEQ"`` or ``"SEQ.SUB"`` (the form ``str()`` gives)."""
        seq, dot, sub = text.partition(".")
        if dot and not sub.isdigit():
            raise ValueError(f"not a position: {text!r} (expected SEQ or SEQ.SUB)")
        return cls(seq, int(sub) if dot else None)

    def __str__(self) -> str:
        if self.sub_sequence_number is None:
            return self.sequence_number
        return f"{self.sequence_number}.{self.sub_sequence_number}"

    def __lt__(self, other: Position) -> bool:
        return self.key < other.key

    def __le__(self, other: Position) -> bool:
        return self.key <= other.key

    def __gt__(self, other: Position) -> bool:
        return self.key > other.key

    def __ge__(self, other: Position) -> bool:
        return self.key >= other.key


class Origin(NamedTuple):
    """Where a user record came from: its stream, shard and place in the shard.

    For a user record of a KPL aggregate, ``sequence_number`` is the aggregate's and
    ``sub_sequence_number`` its index in the aggregate; for a plain record (or a corrupt
    aggregate as a whole) ``sub_sequence_number`` is ``None`` when read from GetRecords or a
    Lambda event. ``arrival_time`` is Kinesis' approximate arrival timestamp, in UTC.
    """

    stream: str
    shard_id: str
    sequence_number: str
    sub_sequence_number: int | None
    partition_key: str
    arrival_time: datetime

    @property
    def position(self) -> Position:
        """The position to checkpoint once this record is durably handled."""
        return Position(self.sequence_number, self.sub_sequence_number)


class Event(NamedTuple):
    """A decoded, validated event and where it came from.

    ``envelope`` is the parsed JSON object (``id``, ``source``, ``type``, ``specversion``
    present as non-empty strings; see :mod:`shardflow.envelope`); ``raw`` the user record's
    bytes exactly as read from the stream; ``time`` the envelope's ``time`` attribute parsed
    to an aware UTC datetime, or ``None`` when the envelope has no ``time``.

    Build one with :meth:`from_envelope` (which parses ``time``) or let
    :func:`consumers.decode` do it; the plain constructor trusts ``time``.
    """

    envelope: dict[str, Any]
    origin: Origin
    raw: bytes = b""
    time: datetime | None = None

    @classmethod
    def from_envelope(cls, envelope: dict[str, Any], origin: Origin, raw: bytes = b"") -> Event:
        """An event with ``time`` parsed from the envelope.

        Raises :class:`~shardflow.errors.InvalidEnvelopeError` when ``time`` is present but
        not an RFC 3339 timestamp with an offset.
        """
        return cls(envelope, origin, raw, _envelope.time_of(envelope))

    @property
    def id(self) -> str:
        """The envelope's ``id``: the idempotency key."""
        value: str = self.envelope["id"]
        return value

    @property
    def type(self) -> str:
        """The envelope's ``type``."""
        value: str = self.envelope["type"]
        return value

    @property
    def event_time(self) -> datetime:
        """The time the sink partitions by: the envelope's ``time``, else the arrival time."""
        return self.time if self.time is not None else self.origin.arrival_time


@dataclass(frozen=True, slots=True)
class PoisonRecord:
    """A record that cannot be processed, kept with its bytes so nothing is lost.

    ``payload`` is the whole Kinesis record's data for a corrupt aggregate, the user
    record's bytes otherwise. ``reason`` says which step gave up; ``error`` is the message
    of what went wrong (for ``handler_failed``, the handler's exception); ``field`` the path
    of the field of ``data`` that did not fit the declared schema (``schema_mismatch``).
    """

    origin: Origin
    payload: bytes
    reason: PoisonReason
    error: str
    field: str | None = None

    def __post_init__(self) -> None:
        if self.reason not in POISON_REASONS:
            raise ValueError(f"reason must be one of {POISON_REASONS}, got {self.reason!r}")

    @classmethod
    def handler_failed(cls, event: Event, error: BaseException | str) -> PoisonRecord:
        """The poison record for an event the user's handler kept failing on."""
        message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        return cls(event.origin, event.raw, "handler_failed", message)

    @classmethod
    def schema_mismatch(cls, event: Event, field: str) -> PoisonRecord:
        """The poison record for an event whose ``data`` does not fit the declared schema at
        ``field`` (:mod:`consumers.data_schema`)."""
        return cls(
            event.origin,
            event.raw,
            "schema_mismatch",
            f"event {event.id}: {field} does not fit the declared data schema",
            field,
        )


_ARN_STREAM_MARKER: Final = ":stream/"


class KinesisRecord(NamedTuple):
    """One Kinesis record as delivered, possibly a KPL aggregate.

    ``sub_sequence_number`` is set only when the delivery is already de-aggregated (the KCL
    multilang protocol gives each user record with its sub-sequence number); ``data`` is the
    record's bytes (base64 already decoded); ``arrival_time`` is aware UTC.

    Use the constructor for the shape at hand: :meth:`from_get_records`,
    :meth:`from_lambda`, :meth:`from_kcl`. They raise
    :class:`~consumers.errors.RecordShapeError` when the delivery lacks a field; the bytes
    themselves are never judged here (that is :func:`consumers.decode`'s job).
    """

    stream: str
    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes
    arrival_time: datetime
    sub_sequence_number: int | None = None
    explicit_hash_key: str | None = None

    @property
    def origin(self) -> Origin:
        """The origin of the record as a whole (of a corrupt aggregate, say)."""
        return Origin(
            self.stream,
            self.shard_id,
            self.sequence_number,
            self.sub_sequence_number,
            self.partition_key,
            self.arrival_time,
        )

    @classmethod
    def from_get_records(
        cls, rec: Mapping[str, Any], *, stream: str, shard_id: str
    ) -> KinesisRecord:
        """A record from boto3's ``get_records()["Records"]`` (``Data`` already bytes)."""
        try:
            seq = rec["SequenceNumber"]
            data = rec["Data"]
            arrival = rec["ApproximateArrivalTimestamp"]
            pkey = rec["PartitionKey"]
        except KeyError as exc:
            raise RecordShapeError(
                f"GetRecords record lacks {exc.args[0]!r}", stream=stream, shard_id=shard_id
            ) from None
        if isinstance(data, str):  # a caller that kept the wire (base64) form
            data = _b64(data, stream=stream, shard_id=shard_id, seq=seq)
        return cls(
            stream,
            shard_id,
            seq,
            pkey,
            bytes(data),
            _as_utc(arrival, stream=stream, shard_id=shard_id, seq=seq),
            None,
            rec.get("ExplicitHashKey"),
        )

    @classmethod
    def from_lambda(cls, rec: Mapping[str, Any] | Any) -> KinesisRecord:
        """A record from a Lambda Kinesis event's ``Records`` list.

        Accepts the event's dict item or an object with a ``raw_event`` dict (powertools'
        ``KinesisStreamRecord``). The stream name comes from ``eventSourceARN``, the shard id
        from ``eventID`` (``shardId-…:SEQ``).
        """
        raw = rec if isinstance(rec, Mapping) else getattr(rec, "raw_event", None)
        if not isinstance(raw, Mapping):
            raise RecordShapeError(
                f"expected a Lambda Kinesis record dict, got {type(rec).__name__}"
            )
        try:
            kin = raw["kinesis"]
            arn: str = raw["eventSourceARN"]
            event_id: str = raw["eventID"]
            seq = kin["sequenceNumber"]
            pkey = kin["partitionKey"]
            data_b64 = kin["data"]
            arrival = kin["approximateArrivalTimestamp"]
        except KeyError as exc:
            raise RecordShapeError(f"Lambda Kinesis record lacks {exc.args[0]!r}") from None
        _, marker, stream = arn.partition(_ARN_STREAM_MARKER)
        shard_id, colon, _ = event_id.partition(":")
        if not marker or not stream or not colon:
            raise RecordShapeError(
                f"cannot tell stream and shard from eventSourceARN={arn!r}, eventID={event_id!r}"
            )
        stream = stream.split("/", 1)[0]  # ARNs of a registered consumer go on after /
        return cls(
            stream,
            shard_id,
            seq,
            pkey,
            _b64(data_b64, stream=stream, shard_id=shard_id, seq=seq),
            _as_utc(arrival, stream=stream, shard_id=shard_id, seq=seq),
            None,
            kin.get("explicitHashKey"),
        )

    @classmethod
    def from_kcl(cls, rec: Mapping[str, Any] | Any, *, stream: str, shard_id: str) -> KinesisRecord:
        """A record from the KCL multilang protocol: its JSON dict, or amazon_kclpy's
        ``messages.Record``.

        The daemon has already de-aggregated KPL records and gives each user record with
        its ``subSequenceNumber``; ``approximateArrivalTimestamp`` is epoch milliseconds.
        """
        # The exact types first: an ABC isinstance check costs more, per user record, than
        # the rest of reading it.
        raw: Any
        if rec.__class__ is dict:
            raw = rec
        else:
            raw = getattr(rec, "_json_dict", None)
            if raw is None and isinstance(rec, Mapping):
                raw = rec
        try:
            if raw.__class__ is dict or isinstance(raw, Mapping):
                seq = raw["sequenceNumber"]
                sub = raw.get("subSequenceNumber")
                pkey = raw["partitionKey"]
                data = _b64(raw["data"], stream=stream, shard_id=shard_id, seq=seq)
                millis = raw["approximateArrivalTimestamp"]
            else:
                obj: Any = rec
                seq = obj.sequence_number
                sub = obj.sub_sequence_number
                pkey = obj.partition_key
                data = bytes(obj.binary_data)
                millis = obj.timestamp_millis
        except (KeyError, AttributeError) as exc:
            raise RecordShapeError(
                f"KCL record lacks {exc.args[0]!r}", stream=stream, shard_id=shard_id
            ) from None
        global _last_kcl_arrival  # noqa: PLW0603 - a one-entry cache
        cached = _last_kcl_arrival
        # The records of a delivery mostly share their arrival time: convert it once.
        if millis.__class__ is cached[0].__class__ and millis == cached[0]:
            arrival = cached[1]
        else:
            arrival = _from_epoch(millis, 1000.0, stream=stream, shard_id=shard_id, seq=seq)
            _last_kcl_arrival = (millis, arrival)
        return cls(
            stream,
            shard_id,
            seq,
            pkey,
            data,
            arrival,
            None if sub is None else int(sub),
            None,
        )


#: (epoch milliseconds, as given, and their datetime) of the last KCL record read; swapped as
#: one tuple, so threads reading records at once see a consistent pair.
_last_kcl_arrival: tuple[Any, datetime] = (object(), datetime(1970, 1, 1, tzinfo=UTC))


def _b64(text: str | bytes, *, stream: str, shard_id: str, seq: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise RecordShapeError(
            f"record data is not base64: {exc}",
            stream=stream,
            shard_id=shard_id,
            sequence_number=seq,
        ) from exc


def _from_epoch(value: Any, per_second: float, *, stream: str, shard_id: str, seq: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(value) / per_second, UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise RecordShapeError(
            f"arrival timestamp {value!r} is not a number",
            stream=stream,
            shard_id=shard_id,
            sequence_number=seq,
        ) from exc


def _as_utc(value: Any, *, stream: str, shard_id: str, seq: str) -> datetime:
    if isinstance(value, datetime):
        # boto3 gives aware datetimes (tzlocal or tzutc); a naive one is taken as UTC.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    # Lambda events carry epoch seconds as a float.
    return _from_epoch(value, 1.0, stream=stream, shard_id=shard_id, seq=seq)
