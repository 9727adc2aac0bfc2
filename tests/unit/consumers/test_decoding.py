"""Decoding: aggregates from shardflow.kpl and aws_kinesis_agg, and every kind of bad input."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest
from aws_kinesis_agg.aggregator import RecordAggregator

from consumers import Event, KinesisRecord, PoisonRecord, decode, decode_all
from shardflow import envelope, kpl

ARRIVAL = datetime(2026, 11, 26, 14, 0, 0, tzinfo=UTC)
SEQ = "49590338271490256608559692538361571095921575989136588898"


def _event(i: int, **extra: object) -> bytes:
    env = envelope.build({"type": "page_view", "data": {"n": i}, **extra}, default_source="test")
    return envelope.encode(env)


def _record(data: bytes, *, seq: str = SEQ, sub: int | None = None) -> KinesisRecord:
    return KinesisRecord("stream", "shardId-000000000000", seq, "agg-pk", data, ARRIVAL, sub)


def _events(items: list[Event | PoisonRecord]) -> list[Event]:
    assert all(isinstance(i, Event) for i in items), items
    return [i for i in items if isinstance(i, Event)]


def test_plain_record_gives_one_event_with_its_origin() -> None:
    raw = _event(1)
    (event,) = _events(decode(_record(raw)))
    assert event.raw == raw
    assert event.envelope == orjson.loads(raw)
    assert event.type == "page_view"
    assert event.time is not None and event.time.tzinfo is not None
    assert event.origin.position.sub_sequence_number is None
    assert event.origin.partition_key == "agg-pk"
    assert event.origin.arrival_time == ARRIVAL


def test_shardflow_aggregate_gives_each_user_record_with_its_sub_sequence_number() -> None:
    raws = [_event(i) for i in range(5)]
    blob = kpl.aggregate([(f"pk-{i}", raw) for i, raw in enumerate(raws)])
    events = _events(decode(_record(blob)))
    assert [e.raw for e in events] == raws
    assert [e.origin.sub_sequence_number for e in events] == [0, 1, 2, 3, 4]
    assert [e.origin.partition_key for e in events] == [f"pk-{i}" for i in range(5)]
    assert {e.origin.sequence_number for e in events} == {SEQ}


def test_aws_kinesis_agg_aggregate_decodes() -> None:
    agg = RecordAggregator()
    raws = [_event(i) for i in range(20)]
    for i, raw in enumerate(raws):
        assert agg.add_user_record(f"pk-{i % 3}", raw) is None
    _pk, _ehk, blob = agg.clear_and_get().get_contents()
    events = _events(decode(_record(blob)))
    assert [e.raw for e in events] == raws
    assert [e.origin.partition_key for e in events] == [f"pk-{i % 3}" for i in range(20)]


def test_aggregate_from_a_lambda_event_decodes() -> None:
    raws = [_event(i) for i in range(3)]
    blob = kpl.aggregate([("pk", raw) for raw in raws])
    item = {
        "kinesis": {
            "partitionKey": "pk",
            "sequenceNumber": SEQ,
            "data": base64.b64encode(blob).decode(),
            "approximateArrivalTimestamp": ARRIVAL.timestamp(),
        },
        "eventID": f"shardId-000000000003:{SEQ}",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/orders",
    }
    events = _events(decode(KinesisRecord.from_lambda(item)))
    assert [(e.origin.stream, e.origin.shard_id) for e in events] == [
        ("orders", "shardId-000000000003")
    ] * 3


def test_one_bad_envelope_does_not_poison_its_siblings() -> None:
    blob = kpl.aggregate([("pk", _event(0)), ("pk", b"{not json"), ("pk", _event(2))])
    items = decode(_record(blob))
    assert [type(i).__name__ for i in items] == ["Event", "PoisonRecord", "Event"]
    poison = items[1]
    assert isinstance(poison, PoisonRecord)
    assert poison.reason == "invalid_envelope"
    assert poison.payload == b"{not json"
    assert poison.origin.sub_sequence_number == 1


def test_corrupt_digest_is_one_poison_record_with_the_whole_record() -> None:
    blob = bytearray(kpl.aggregate([("pk", _event(i)) for i in range(4)]))
    blob[-1] ^= 0xFF
    (poison,) = decode(_record(bytes(blob)))
    assert isinstance(poison, PoisonRecord)
    assert poison.reason == "corrupt_aggregate"
    assert poison.payload == bytes(blob)
    assert "digest" in poison.error
    assert poison.origin.sub_sequence_number is None


def test_truncated_protobuf_with_a_valid_digest_is_a_corrupt_aggregate() -> None:
    import hashlib

    body = kpl.aggregate([("pk", _event(0))])[4:-16]
    truncated = body[:-7]
    blob = kpl.MAGIC + truncated + hashlib.md5(truncated).digest()
    (poison,) = decode(_record(blob))
    assert isinstance(poison, PoisonRecord) and poison.reason == "corrupt_aggregate"
    assert "truncated" in poison.error


def test_truncated_record_fails_its_digest() -> None:
    blob = kpl.aggregate([("pk", _event(0)), ("pk", _event(1))])
    (poison,) = decode(_record(blob[:-30]))
    assert isinstance(poison, PoisonRecord) and poison.reason == "corrupt_aggregate"


def test_aggregate_without_records_is_a_corrupt_aggregate() -> None:
    import hashlib

    blob = kpl.MAGIC + hashlib.md5(b"").digest()
    (poison,) = decode(_record(blob))
    assert isinstance(poison, PoisonRecord) and poison.reason == "corrupt_aggregate"


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (b"\xff\xfe binary", "not JSON"),
        (b"[1, 2, 3]", "object"),
        (b'{"id": "x", "source": "s", "specversion": "1.0"}', "type"),
        (b'{"id": "", "source": "s", "type": "t", "specversion": "1.0"}', "id"),
        (b'{"id": "x", "source": "s", "type": "t", "specversion": "1.0", "time": "soon"}', "time"),
        (b'{"id": "x", "source": "s", "type": "t", "specversion": "1.0", "time": 17}', "time"),
        # Valid RFC 3339, but in UTC before year 1 or after 9999: Python cannot hold it.
        (
            b'{"id": "x", "source": "s", "type": "t", "specversion": "1.0",'
            b' "time": "0001-01-01T00:00:00+01:00"}',
            "time",
        ),
        (
            b'{"id": "x", "source": "s", "type": "t", "specversion": "1.0",'
            b' "time": "9999-12-31T23:59:59-01:00"}',
            "time",
        ),
    ],
)
def test_invalid_envelopes_are_poison_records(payload: bytes, needle: str) -> None:
    (poison,) = decode(_record(payload))
    assert isinstance(poison, PoisonRecord)
    assert poison.reason == "invalid_envelope"
    assert poison.payload == payload
    assert needle in poison.error


def test_kcl_delivery_is_not_deaggregated_again() -> None:
    raw = _event(7)
    (event,) = _events(decode(_record(raw, sub=4)))
    assert event.origin.sub_sequence_number == 4


def test_kcl_passes_a_corrupt_aggregate_through_and_it_is_poison() -> None:
    blob = bytearray(kpl.aggregate([("pk", _event(0))]))
    blob[10] ^= 1
    (poison,) = decode(_record(bytes(blob), sub=0))
    assert isinstance(poison, PoisonRecord) and poison.reason == "corrupt_aggregate"


def test_decode_all_keeps_stream_order() -> None:
    recs = [
        _record(kpl.aggregate([("pk", _event(0)), ("pk", _event(1))]), seq="100"),
        _record(_event(2), seq="101"),
    ]
    items = decode_all(recs)
    assert [str(i.origin.position) for i in items] == ["100.0", "100.1", "101"]


def test_event_without_time_keeps_none_and_extensions() -> None:
    raw = b'{"id":"x","source":"s","type":"t","specversion":"1.0","subject":"abc"}'
    (event,) = _events(decode(_record(raw)))
    assert event.time is None
    assert event.envelope["subject"] == "abc"


def test_event_time_with_an_offset_is_converted_to_utc() -> None:
    raw = (
        b'{"id":"x","source":"s","type":"t","specversion":"1.0",'
        b'"time":"2026-11-26T16:00:00.5+02:00"}'
    )
    (event,) = _events(decode(_record(raw)))
    assert event.time == datetime(2026, 11, 26, 14, 0, 0, 500000, tzinfo=UTC)
    assert event.time is not None and event.time.tzinfo is UTC


def test_event_time_without_offset_is_an_invalid_envelope() -> None:
    raw = b'{"id":"x","source":"s","type":"t","specversion":"1.0","time":"2026-11-26T16:00:00"}'
    (poison,) = decode(_record(raw))
    assert isinstance(poison, PoisonRecord) and "offset" in poison.error
