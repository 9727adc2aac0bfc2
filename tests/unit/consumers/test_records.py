"""Positions order like the stream; the three delivery shapes give the same record."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from consumers import Event, KinesisRecord, Origin, PoisonRecord, Position, RecordShapeError
from shardflow.errors import InvalidEnvelopeError

SEQ = "49590338271490256608559692538361571095921575989136588898"
ARRIVAL = datetime(2026, 11, 26, 14, 26, 41, 123000, tzinfo=UTC)


def test_positions_order_by_integer_sequence_number_then_sub_sequence() -> None:
    ordered = [
        Position("9"),
        Position("10"),  # a string comparison would put this first
        Position("10", 0),
        Position("10", 1),
        Position("10", 12),
        Position("11", None),
    ]
    assert sorted(reversed(ordered)) == ordered
    assert Position("10") < Position("10", 0)  # a plain record before sub-sequence 0
    assert max(ordered) == Position("11")


@pytest.mark.parametrize("position", [Position(SEQ), Position(SEQ, 0), Position(SEQ, 41)])
def test_position_text_round_trips(position: Position) -> None:
    assert Position.parse(str(position)) == position


@pytest.mark.parametrize("text", ["", "12a", "12.", "12.x", "-1"])
def test_malformed_positions_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        Position.parse(text)


def test_negative_sub_sequence_number_is_rejected() -> None:
    with pytest.raises(ValueError, match="sub_sequence_number"):
        Position("1", -1)


def test_from_get_records_keeps_bytes_and_normalises_arrival_to_utc() -> None:
    cet = timezone(timedelta(hours=1))
    rec = KinesisRecord.from_get_records(
        {
            "SequenceNumber": SEQ,
            "ApproximateArrivalTimestamp": ARRIVAL.astimezone(cet),
            "Data": b"\x00payload",
            "PartitionKey": "pk-1",
        },
        stream="s",
        shard_id="shardId-000000000001",
    )
    assert rec.data == b"\x00payload"
    assert rec.arrival_time == ARRIVAL and rec.arrival_time.utcoffset() == timedelta(0)
    assert rec.sub_sequence_number is None
    assert rec.origin.position == Position(SEQ)


def _lambda_item(data: bytes, **overrides: object) -> dict[str, object]:
    item: dict[str, object] = {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "pk-1",
            "sequenceNumber": SEQ,
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": ARRIVAL.timestamp(),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000006:{SEQ}",
        "eventName": "aws:kinesis:record",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/orders",
    }
    item.update(overrides)
    return item


def test_from_lambda_reads_stream_and_shard_from_the_event() -> None:
    rec = KinesisRecord.from_lambda(_lambda_item(b"hello"))
    assert (rec.stream, rec.shard_id, rec.sequence_number) == (
        "orders",
        "shardId-000000000006",
        SEQ,
    )
    assert rec.data == b"hello"
    assert abs(rec.arrival_time - ARRIVAL) < timedelta(milliseconds=1)


def test_from_lambda_accepts_powertools_style_objects() -> None:
    class Wrapped:
        raw_event = _lambda_item(b"x")

    assert KinesisRecord.from_lambda(Wrapped()).data == b"x"


def test_from_lambda_names_the_missing_field() -> None:
    with pytest.raises(RecordShapeError, match="eventSourceARN"):
        KinesisRecord.from_lambda(
            {k: v for k, v in _lambda_item(b"x").items() if k != "eventSourceARN"}
        )


def test_from_lambda_rejects_bad_base64() -> None:
    item = _lambda_item(b"x")
    item["kinesis"]["data"] = "not base64!"  # type: ignore[index]
    with pytest.raises(RecordShapeError, match="base64"):
        KinesisRecord.from_lambda(item)


def test_from_kcl_reads_the_multilang_dict_and_kclpy_record() -> None:
    from amazon_kclpy.messages import Record

    wire = {
        "action": "record",
        "data": base64.b64encode(b"user-record").decode(),
        "partitionKey": "pk-2",
        "sequenceNumber": SEQ,
        "subSequenceNumber": 3,
        "approximateArrivalTimestamp": int(ARRIVAL.timestamp() * 1000),
    }
    from_dict = KinesisRecord.from_kcl(wire, stream="s", shard_id="shardId-000000000002")
    from_obj = KinesisRecord.from_kcl(Record(wire), stream="s", shard_id="shardId-000000000002")
    assert from_dict == from_obj
    assert from_dict.sub_sequence_number == 3
    assert from_dict.arrival_time == ARRIVAL
    assert from_dict.origin.position == Position(SEQ, 3)


def test_event_from_envelope_parses_time_and_rejects_bad_time() -> None:
    origin = Origin("s", "shardId-000000000000", "1", None, "pk", ARRIVAL)
    env = {
        "id": "a",
        "source": "s",
        "type": "t",
        "specversion": "1.0",
        "time": "2026-01-02T03:04:05.678Z",
    }
    event = Event.from_envelope(env, origin)
    assert event.time == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert (event.id, event.type, event.event_time) == ("a", "t", event.time)
    assert Event.from_envelope({**env, "time": None} | {}, origin).time is None
    with pytest.raises(InvalidEnvelopeError):
        Event.from_envelope({**env, "time": "yesterday"}, origin)


def test_event_time_falls_back_to_arrival_time() -> None:
    origin = Origin("s", "shardId-000000000000", "1", None, "pk", ARRIVAL)
    event = Event({"id": "a", "source": "s", "type": "t", "specversion": "1.0"}, origin)
    assert event.event_time == ARRIVAL


def test_poison_record_for_a_failing_handler_keeps_the_event_bytes() -> None:
    origin = Origin("s", "shardId-000000000000", "1", 2, "pk", ARRIVAL)
    event = Event({"id": "a"}, origin, b'{"id":"a"}')
    poison = PoisonRecord.handler_failed(event, KeyError("user"))
    assert (poison.reason, poison.payload, poison.origin) == (
        "handler_failed",
        b'{"id":"a"}',
        origin,
    )
    assert "KeyError" in poison.error


def test_poison_reason_is_checked() -> None:
    origin = Origin("s", "shardId-000000000000", "1", None, "pk", ARRIVAL)
    with pytest.raises(ValueError, match="reason"):
        PoisonRecord(origin, b"", "oops", "x")  # type: ignore[arg-type]
