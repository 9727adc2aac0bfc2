"""``put`` refuses an envelope a consumer would dead-letter, by the consumers' own rules.

Every case is checked twice: the producer raises :class:`producers.InvalidEnvelopeError`
naming the attribute (and buffers nothing), and the consumer's decoding turns the same
envelope, written as it would have been sent, into an ``invalid_envelope`` poison record.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import producers
from consumers import Event, KinesisRecord, PoisonRecord, decode
from producers import (
    EventProducer,
    InvalidEnvelopeError,
    InvalidEventError,
    InvalidRecordError,
    ProducerConfig,
)
from producers.testing import InMemoryKinesis
from producers.validation import serialise
from shardflow import errors

FAST = ProducerConfig(max_buffer_time=0.01, record_ttl=10.0)
ARRIVAL = datetime(2026, 11, 26, 14, 0, 0, tzinfo=UTC)


@pytest.fixture
def kinesis() -> InMemoryKinesis:
    fake = InMemoryKinesis()
    fake.create_stream("events", shard_count=2)
    return fake


@pytest.fixture
def producer(kinesis: InMemoryKinesis) -> Iterator[EventProducer]:
    with EventProducer("events", client=kinesis, config=FAST) as prod:
        yield prod


def _consumer_sees(wire: dict[str, Any]) -> Event | PoisonRecord:
    """What the consumer's decoding makes of ``wire`` sent as a plain record."""
    record = KinesisRecord("events", "shardId-000000000000", "1", "k", orjson.dumps(wire), ARRIVAL)
    (item,) = decode(record)
    return item


def _as_sent(event: dict[str, Any]) -> dict[str, Any]:
    """The envelope as it would go out if the producer did not check it."""
    return {
        "specversion": "1.0",
        "id": "0193-filled",
        "source": "shardflow",
        "time": "2026-11-26T14:00:00.000Z",
        **{k: v for k, v in event.items() if v is not None and v != ""},
    }


REFUSED = [
    ({"type": "t", "time": "not-a-time"}, "time", "not RFC 3339"),
    ({"type": "t", "time": 12345}, "time", "must be an RFC 3339 string, got int"),
    ({"type": "t", "time": "2026-11-26T14:00:00"}, "time", "no UTC offset"),
    ({"type": "t", "time": "0001-01-01T00:00:00+01:00"}, "time", "out of range"),
    ({"type": "t", "id": 5}, "id", "must be a non-empty string, got int"),
    ({"type": "t", "id": 0, "data": {}}, "id", "got int"),
    ({"type": "t", "id": ["a"]}, "id", "got list"),
    ({"type": "t", "source": 5, "data": {}}, "source", "got int"),
    ({"type": "t", "source": {"app": "x"}}, "source", "got dict"),
    ({"type": "", "data": {}}, "type", "'type'"),
    ({"type": 7}, "type", "'type'"),
    ({"data": {}}, "type", "'type'"),
]


@pytest.mark.parametrize(("event", "field", "text"), REFUSED)
def test_put_refuses_what_a_consumer_dead_letters_and_names_the_field(
    producer: EventProducer,
    kinesis: InMemoryKinesis,
    event: dict[str, Any],
    field: str,
    text: str,
) -> None:
    with pytest.raises(InvalidEnvelopeError, match=text) as info:
        producer.put(event, partition_key="k")
    assert info.value.field == field
    assert info.value.stream == "events"
    assert producer.buffered_records == 0
    producer.flush(timeout=10)
    assert kinesis.user_records("events") == []
    poison = _consumer_sees(_as_sent(event))
    assert isinstance(poison, PoisonRecord) and poison.reason == "invalid_envelope"
    assert field in poison.error


def test_the_error_is_in_the_producer_tree_and_the_cores() -> None:
    assert "InvalidEnvelopeError" in producers.__all__
    assert issubclass(InvalidEnvelopeError, InvalidEventError)
    assert issubclass(InvalidEnvelopeError, InvalidRecordError)
    assert issubclass(InvalidEnvelopeError, ValueError)
    # Code that catches the consumers' envelope error catches the producer's too.
    assert issubclass(InvalidEnvelopeError, errors.InvalidEnvelopeError)


def test_put_many_refuses_the_whole_call_and_names_the_record(
    producer: EventProducer, kinesis: InMemoryKinesis
) -> None:
    records = [
        ({"type": "t", "data": {"n": 0}}, "a"),
        ({"type": "t", "id": "x", "time": "yesterday"}, "b"),
    ]
    with pytest.raises(InvalidEnvelopeError, match=r"^record 1: time 'yesterday'") as info:
        producer.put_many(records)
    assert info.value.field == "time"
    assert producer.buffered_records == 0
    producer.flush(timeout=10)
    assert kinesis.user_records("events") == []


ACCEPTED = [
    {"type": "t", "id": "order-17", "time": "2026-11-26T14:00:00Z"},
    {"type": "t", "time": "2026-11-26T16:00:00.5+02:00"},
    {"type": "t", "id": uuid.UUID("0193a0c4-0000-7000-8000-000000000001")},
    {"type": "t", "time": datetime(2026, 11, 26, 14, tzinfo=UTC)},
    {"type": "t", "time": datetime(2026, 11, 26, 14, tzinfo=timezone(timedelta(hours=-5)))},
    # None or an empty string is "not given": the producer fills the attribute in.
    {"type": "t", "id": "", "time": None, "source": ""},
]


@pytest.mark.parametrize("event", ACCEPTED)
def test_what_put_accepts_the_consumer_decodes(
    producer: EventProducer, kinesis: InMemoryKinesis, event: dict[str, Any]
) -> None:
    producer.put(event, partition_key="k").result(timeout=10)
    ((_shard, _pk, data),) = kinesis.user_records("events")
    decoded = _consumer_sees(orjson.loads(data))
    assert isinstance(decoded, Event), decoded
    assert decoded.envelope["id"] and decoded.time is not None


@pytest.mark.parametrize(
    ("value", "text"),
    [(datetime(2026, 11, 26, 14), "without a UTC offset"), (date(2026, 11, 26), "got date")],
)
def test_a_time_object_without_an_offset_is_refused(
    producer: EventProducer, value: object, text: str
) -> None:
    # orjson would write them without an offset, which no consumer accepts.
    with pytest.raises(InvalidEnvelopeError, match=text) as info:
        producer.put({"type": "t", "time": value}, partition_key="k")
    assert info.value.field == "time"


def test_raw_bytes_are_not_envelopes_and_are_not_checked(
    producer: EventProducer, kinesis: InMemoryKinesis
) -> None:
    producer.put(b'{"type": "t", "time": "not-a-time"}', partition_key="k").result(timeout=10)
    assert len(kinesis.user_records("events")) == 1


_attribute = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.integers(-5, 5),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),  # orjson writes those as null
    st.sampled_from(
        [
            "2026-11-26T14:00:00Z",
            "2026-11-26T14:00:00+01:00",
            "2026-11-26T14:00:00",
            "2026-11-26",
            "yesterday",
            "9999-12-31T23:59:59-01:00",
        ]
    ),
    st.lists(st.integers(-5, 5), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(event_id=_attribute, event_time=_attribute, source=_attribute)
def test_the_producer_refuses_exactly_what_the_consumer_dead_letters(
    event_id: object, event_time: object, source: object
) -> None:
    event: dict[str, Any] = {"type": "t", "data": {}}
    for name, value in (("id", event_id), ("time", event_time), ("source", source)):
        if value is not None:
            event[name] = value
    consumer = _consumer_sees(_as_sent(event))
    try:
        data = serialise(event, source="shardflow", stream="events")
    except InvalidEnvelopeError as exc:
        assert isinstance(consumer, PoisonRecord), (event, exc)
        assert exc.field in consumer.error
        return
    assert isinstance(consumer, Event), (event, consumer)
    assert isinstance(_consumer_sees(orjson.loads(data)), Event)
