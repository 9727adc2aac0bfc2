"""From Kinesis records to events: KPL de-aggregation, then envelope parsing.

Pure code: no I/O, and no exception for bad data. Every Kinesis record gives at least one
item, in sub-sequence order:

* a plain record: one :class:`~consumers.Event`, or one ``invalid_envelope``
  :class:`~consumers.PoisonRecord` (not JSON, not an object, a required attribute missing,
  an unreadable ``time``);
* a valid KPL aggregate: one item per user record, each decoded on its own, so one bad
  envelope does not poison its siblings;
* a corrupt aggregate (digest mismatch, truncated protobuf, bad key index, no user
  records): one ``corrupt_aggregate`` poison record carrying the whole record's bytes.

The wire format is :mod:`shardflow.kpl`'s and the envelope :mod:`shardflow.envelope`'s;
this module only decides what a failure of either means.
"""

from __future__ import annotations

from collections.abc import Iterable

from consumers.records import Event, KinesisRecord, Origin, PoisonRecord
from shardflow import envelope, kpl
from shardflow.errors import InvalidEnvelopeError, WireFormatError

#: One decoded item: an event to process, or a poison record to dead-letter.
Decoded = Event | PoisonRecord


def decode(record: KinesisRecord) -> list[Decoded]:
    """The events (or poison records) in ``record``, in sub-sequence order. Never raises
    for bad data; see the module docstring for what each case gives."""
    data = record.data
    if not kpl.is_aggregated(data):
        return [decode_user_record(data, record.origin)]
    try:
        users = kpl.deaggregate(data)
    except WireFormatError as exc:
        return [PoisonRecord(record.origin, data, "corrupt_aggregate", str(exc))]
    if not users:
        return [
            PoisonRecord(record.origin, data, "corrupt_aggregate", "KPL aggregate holds no records")
        ]
    if record.sub_sequence_number is not None:
        # The KCL de-aggregates before delivering and passes a record whose digest fails
        # through as is; a valid aggregate *inside* a user record is not something any KPL
        # writes, so its bytes are kept rather than guessed at.
        return [
            PoisonRecord(
                record.origin,
                data,
                "corrupt_aggregate",
                "KPL aggregate nested inside an already de-aggregated user record",
            )
        ]
    stream, shard_id, seq, arrival = (
        record.stream,
        record.shard_id,
        record.sequence_number,
        record.arrival_time,
    )
    # decode_user_record, inlined for the user records of an aggregate (hundreds per
    # record): the named tuples are built with tuple.__new__, which skips their Python-level
    # __new__ (same objects, a frame less per tuple).
    parse, time_of, new = envelope.parse, envelope.time_of, tuple.__new__
    out: list[Decoded] = []
    append = out.append
    for user in users:
        data = user.data
        origin = new(
            Origin, (stream, shard_id, seq, user.sub_sequence_number, user.partition_key, arrival)
        )
        try:
            env = parse(data)
            append(new(Event, (env, origin, data, time_of(env))))
        except InvalidEnvelopeError as exc:
            append(PoisonRecord(origin, data, "invalid_envelope", str(exc)))
    return out


def decode_all(records: Iterable[KinesisRecord]) -> list[Decoded]:
    """:func:`decode` over a batch, flattened, in stream order."""
    out: list[Decoded] = []
    for record in records:
        out += decode(record)
    return out


def decode_user_record(data: bytes, origin: Origin) -> Decoded:
    """One user record's bytes as an :class:`Event`, or an ``invalid_envelope`` poison
    record. For callers that de-aggregated already."""
    try:
        env = envelope.parse(data)
        return Event(env, origin, data, envelope.time_of(env))
    except InvalidEnvelopeError as exc:
        return PoisonRecord(origin, data, "invalid_envelope", str(exc))
