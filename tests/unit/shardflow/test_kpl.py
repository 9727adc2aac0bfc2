"""The KPL wire format: what we write, independent readers read, and corrupt input fails."""

from __future__ import annotations

import base64
import hashlib

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator
from aws_kinesis_agg.deaggregator import deaggregate_records
from hypothesis import given, settings
from hypothesis import strategies as st

from shardflow import kpl
from shardflow.errors import WireFormatError

partition_keys = st.text(min_size=1, max_size=256)
payloads = st.binary(min_size=0, max_size=3000)
ehks = st.none() | st.integers(min_value=0, max_value=(1 << 128) - 1).map(str)


def _lambda_record(data: bytes) -> dict[str, object]:
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "ignored",
            "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": 1545084650.987,
        },
        "eventSource": "aws:kinesis",
    }


def _read_with_aws_kinesis_agg(blob: bytes) -> list[tuple[str, bytes, str | None]]:
    out = deaggregate_records([_lambda_record(blob)])
    return [
        (
            r["kinesis"]["partitionKey"],
            base64.b64decode(r["kinesis"]["data"]),
            r["kinesis"].get("explicitHashKey"),
        )
        for r in out
    ]


def test_round_trip_through_our_reader() -> None:
    builder = kpl.AggregateBuilder()
    assert builder.add("user-1", b'{"a":1}') == 0
    assert builder.add("user-2", b"") == 1
    assert builder.add("user-1", b"x" * 300, "42") == 2
    blob = builder.build()
    assert blob[:4] == kpl.MAGIC
    assert len(blob) == builder.size
    records = kpl.deaggregate(blob)
    assert [
        (r.partition_key, r.data, r.sub_sequence_number, r.explicit_hash_key) for r in records
    ] == [
        ("user-1", b'{"a":1}', 0, None),
        ("user-2", b"", 1, None),
        ("user-1", b"x" * 300, 2, "42"),
    ]
    assert builder.partition_key == "user-1"


def test_aws_kinesis_agg_reads_what_we_write() -> None:
    recs = [(f"key-{i % 7}", f'{{"n":{i}}}'.encode(), None) for i in range(200)]
    blob = kpl.aggregate(recs)
    got = _read_with_aws_kinesis_agg(blob)
    assert [(pk, data) for pk, data, _ in got] == [(pk, data) for pk, data, _ in recs]


def test_we_read_what_aws_kinesis_agg_writes() -> None:
    agg = RecordAggregator()
    for i in range(50):
        agg.add_user_record(f"pk{i % 3}", f"payload-{i}".encode(), str(i * 1000))
    _pk, _ehk, blob = agg.clear_and_get().get_contents()
    records = kpl.deaggregate(blob)
    assert [r.data for r in records] == [f"payload-{i}".encode() for i in range(50)]
    assert [r.partition_key for r in records] == [f"pk{i % 3}" for i in range(50)]
    assert [r.explicit_hash_key for r in records] == [str(i * 1000) for i in range(50)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(partition_keys, payloads, ehks), min_size=1, max_size=40))
def test_property_round_trip_and_exact_size(recs: list[tuple[str, bytes, str | None]]) -> None:
    builder = kpl.AggregateBuilder()
    for pk, data, ehk in recs:
        predicted = builder.size_if_added(pk, len(data), ehk)
        builder.add(pk, data, ehk)
        assert builder.size == predicted
    blob = builder.build()
    assert len(blob) == builder.size
    assert [(r.partition_key, r.data, r.explicit_hash_key) for r in kpl.deaggregate(blob)] == recs
    theirs = _read_with_aws_kinesis_agg(blob)
    assert [(pk, data) for pk, data, _ in theirs] == [(pk, data) for pk, data, _ in recs]
    if len({ehk is None for _, _, ehk in recs}) == 1:
        # aws_kinesis_agg reads a record without an explicit-hash-key index as index 0 when
        # the table is not empty (a quirk of that reader), so compare keys only when uniform.
        assert theirs == recs


def test_large_indexes_and_lengths_use_multi_byte_varints() -> None:
    builder = kpl.AggregateBuilder()
    recs = [(f"k{i}", b"y" * (20_000 if i == 199 else 3)) for i in range(200)]
    for pk, data in recs:
        builder.add(pk, data)
    blob = builder.build()
    assert len(blob) == builder.size
    assert [(r.partition_key, r.data) for r in kpl.deaggregate(blob)] == recs


@pytest.mark.parametrize("value", [0, 1, 127, 128, 16383, 16384, 2**35, 2**64 - 1])
def test_varint(value: int) -> None:
    enc = kpl.encode_varint(value)
    assert len(enc) == kpl.varint_size(value)
    assert kpl._read_varint(enc, 0, len(enc)) == (value, len(enc))


def test_plain_record_is_not_aggregated() -> None:
    assert not kpl.is_aggregated(b'{"id":"1"}')
    assert not kpl.is_aggregated(kpl.MAGIC + b"short")
    with pytest.raises(WireFormatError, match="not a KPL aggregate"):
        kpl.deaggregate(b'{"id":"1"}')


def test_corrupt_digest_is_an_error() -> None:
    blob = bytearray(kpl.aggregate([("k", b"data")]))
    blob[-1] ^= 0xFF
    with pytest.raises(WireFormatError, match="digest mismatch"):
        kpl.deaggregate(bytes(blob))


def _with_digest(body: bytes) -> bytes:
    return kpl.MAGIC + body + hashlib.md5(body).digest()


def test_truncated_protobuf_with_valid_digest_is_an_error() -> None:
    blob = kpl.aggregate([("k", b"some data")])
    body = blob[4:-16]
    with pytest.raises(WireFormatError, match="truncated"):
        kpl.deaggregate(_with_digest(body[:-3]))


def test_index_out_of_range_is_an_error() -> None:
    # Record with partition key index 5 but an empty key table.
    inner = b"\x08\x05\x1a\x01x"
    body = b"\x1a" + bytes([len(inner)]) + inner
    with pytest.raises(WireFormatError, match="partition key 5"):
        kpl.deaggregate(_with_digest(body))


def test_record_without_data_is_an_error() -> None:
    inner = b"\x08\x00"
    body = b"\x0a\x01k\x1a" + bytes([len(inner)]) + inner
    with pytest.raises(WireFormatError, match="lacks"):
        kpl.deaggregate(_with_digest(body))


def test_unknown_fields_and_tags_are_skipped() -> None:
    tag = b"\x0a\x01t\x12\x01v"
    inner = b"\x08\x00\x1a\x02hi\x22" + bytes([len(tag)]) + tag + b"\x28\x07"
    body = b"\x0a\x01k\x1a" + bytes([len(inner)]) + inner + b"\x20\x03"
    assert [(r.partition_key, r.data) for r in kpl.deaggregate(_with_digest(body))] == [
        ("k", b"hi")
    ]


def test_empty_builder_cannot_build() -> None:
    with pytest.raises(ValueError, match="empty"):
        kpl.AggregateBuilder().build()


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(partition_keys, payloads, ehks), min_size=1, max_size=40),
    st.integers(min_value=0, max_value=40_000),
)
def test_property_try_add_never_passes_the_limit(
    recs: list[tuple[str, bytes, str | None]], limit: int
) -> None:
    builder = kpl.AggregateBuilder()
    kept = []
    for pk, data, ehk in recs:
        before = builder.size
        sub = builder.try_add(pk, data, ehk, limit)
        if sub < 0:
            assert builder.size == before  # a refused record leaves no trace
            assert builder.size_if_added(pk, len(data), ehk) > limit
        else:
            assert sub == len(kept)
            kept.append((pk, data, ehk))
            assert builder.size <= limit
    if kept:
        blob = builder.build()
        assert len(blob) == builder.size <= limit
        assert [(r.partition_key, r.data, r.explicit_hash_key) for r in kpl.deaggregate(blob)] == (
            kept
        )
        assert builder.first_data() == kept[0][1]


def test_builder_keeps_first_record_for_plain_sending() -> None:
    builder = kpl.AggregateBuilder()
    with pytest.raises(ValueError, match="empty"):
        builder.first_data()
    builder.add("k", b"only", "17")
    assert (builder.partition_key, builder.first_data(), builder.explicit_hash_key) == (
        "k",
        b"only",
        "17",
    )
