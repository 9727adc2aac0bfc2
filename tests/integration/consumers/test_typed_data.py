"""Typed data columns end to end against the emulator: declare a data schema, write through
the KCL shard pipeline (real S3 sink, real SQS dead-letter queue), query a field in DuckDB,
dead-letter what does not fit, then evolve the schema (a new optional field) for the Hive
Parquet layout and the Iceberg table."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumers import DataSchema, DeadLetterQueue, KinesisRecord, S3Sink, SinkConfig, localquery
from consumers.kcl.pipeline import ShardPipeline
from shardflow import envelope
from shardflow_tools.bootstrap import BootstrapReport, QueueSpec

from .conftest import SHARD

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

V1: dict[str, Any] = {
    "type": "object",
    "properties": {
        "amount": {"type": "number"},
        "count": {"type": "integer"},
        "paid": {"type": "boolean"},
        "at": {"type": "string", "format": "date-time"},
        "customer": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "tier": {"type": "integer"}},
            "required": ["id"],
        },
        "items": {
            "type": "array",
            "items": {"type": "object", "properties": {"sku": {"type": "string"}}},
        },
    },
    "required": ["amount"],
}
#: V1 plus an optional field: a compatible change.
V2: dict[str, Any] = V1 | {"properties": V1["properties"] | {"currency": {"type": "string"}}}


def _order(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "amount": i + 0.5,
        "count": i,
        "paid": i % 2 == 0,
        "at": "2026-11-26T13:00:00.250+01:00",
        "customer": {"id": f"c{i}", "tier": None},
        "items": [{"sku": f"s{i}"}, {"sku": None}],
        **extra,
    }


def _records(datas: list[dict[str, Any]], start: int = 0) -> list[KinesisRecord]:
    out = []
    for n, data in enumerate(datas, start=start):
        env = envelope.build(
            {"id": f"e{n}", "type": "order", "time": "2026-11-26T12:00:00Z", "data": data},
            default_source="test",
        )
        seq = str(49_000_000_000_000_000_000 + n * 7)
        out.append(
            KinesisRecord(
                "orders", SHARD, seq, "pk", envelope.encode(env), T0 + timedelta(seconds=n)
            )
        )
    return out


@pytest.fixture
def queue_url(unique_name: Callable[[str], str], provision: Callable[..., BootstrapReport]) -> str:
    name = unique_name("dlq")
    return provision(QueueSpec(name)).queue_urls[name]


def _dead_letters(sqs: Any, url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _ in range(10):  # bounded: the emulator answers at once
        resp = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        if not resp.get("Messages"):
            break
        out += [orjson.loads(m["Body"]) for m in resp["Messages"]]
    return out


def _write(
    s3: Any, bucket: str, queue: DeadLetterQueue, schema: dict[str, Any], records: Any
) -> ShardPipeline:
    config = SinkConfig(data_schema=DataSchema.parse(schema))
    writer = S3Sink(bucket, stream="orders", s3_client=s3, config=config).shard(SHARD)
    pipeline = ShardPipeline(writer, shard_id=SHARD, dead_letters=queue)
    pipeline.process(records)
    pipeline.flush()
    return pipeline


def test_declare_write_query_by_field_dead_letter_and_evolve(
    aws_client: Callable[[str], Any], s3: Any, bucket: str, queue_url: str
) -> None:
    sqs = aws_client("sqs")
    queue = DeadLetterQueue(queue_url, sqs_client=sqs)
    bad: list[dict[str, Any]] = [
        {"amount": "12.5"},  # a string where a number is declared
        {"amount": 1.0, "items": [{"sku": "a"}, {"sku": 7}]},
        {"amount": 1.0, "surprise": True},  # not declared: would be written half
        {"count": 3},  # the required amount is missing
    ]
    records = _records([_order(0), bad[0], _order(1), bad[1], bad[2], bad[3], _order(2)])
    pipeline = _write(s3, bucket, queue, V1, records)
    assert (pipeline.events, pipeline.dead_lettered) == (3, 4)
    assert pipeline.checkpointable == records[-1].origin.position

    letters = sorted(_dead_letters(sqs, queue_url), key=lambda b: int(b["sequence_number"]))
    assert [b["reason"] for b in letters] == ["schema_mismatch"] * 4
    assert [b["field"] for b in letters] == [
        "data.amount",
        "data.items[1].sku",
        "data.surprise",
        "data.amount",
    ]
    payloads = [orjson.loads(base64.b64decode(b["payload_base64"]))["data"] for b in letters]
    assert payloads == bad

    sql = (
        "SELECT id, data.amount, data.count, data.paid, data.at, data.customer.id, "
        "data.customer.tier, data.items[1].sku, len(data.items) FROM events ORDER BY id"
    )
    with localquery.connect_s3(s3, bucket, "events") as con:
        rows = localquery.run(con, sql)[1]
    at = datetime(2026, 11, 26, 12, 0, 0, 250000)  # naive UTC
    assert rows == [
        ("e0", 0.5, 0, True, at, "c0", None, "s0", 2),
        ("e2", 1.5, 1, False, at, "c1", None, "s1", 2),
        ("e6", 2.5, 2, True, at, "c2", None, "s2", 2),
    ]
    with localquery.connect_s3(s3, bucket, "events") as con:
        ((column_type,),) = localquery.run(
            con,
            "SELECT data_type FROM information_schema.columns WHERE column_name = 'data' "
            "AND table_name = 'events' LIMIT 1",
        )[1]
    assert column_type.startswith("STRUCT(amount DOUBLE")

    # Evolve: an optional field. The new field is refused before it is declared ...
    early = _write(s3, bucket, queue, V1, _records([_order(7, currency="EUR")], start=7))
    assert (early.events, early.dead_lettered) == (0, 1)
    (letter,) = _dead_letters(sqs, queue_url)
    assert letter["field"] == "data.currency"
    # ... and written once it is; the files written before read it as NULL.
    later = _write(s3, bucket, queue, V2, _records([_order(8, currency="EUR")], start=8))
    assert (later.events, later.dead_lettered) == (1, 0)
    with localquery.connect_s3(s3, bucket, "events") as con:
        rows = localquery.run(con, "SELECT id, data.amount, data.currency FROM events ORDER BY id")[
            1
        ]
    assert rows == [("e0", 0.5, None), ("e2", 1.5, None), ("e6", 2.5, None), ("e8", 8.5, "EUR")]


def test_iceberg_table_evolves_by_union_of_the_declared_fields(
    s3: Any, bucket: str, tmp_path: Path
) -> None:
    pytest.importorskip("pyiceberg")
    from consumers.sink.iceberg import IcebergConfig, IcebergSink
    from consumers.sink.iceberg import query as iceberg_query

    iceberg = IcebergConfig(uri=f"sqlite:///{tmp_path}/catalog.db", table="analytics.orders")

    def sink(schema: dict[str, Any]) -> IcebergSink:
        config = SinkConfig(format="iceberg", data_schema=DataSchema.parse(schema))
        return IcebergSink(bucket, stream="orders", config=config, iceberg=iceberg)

    class _NoLetters:
        def send(self, poison: Any) -> None:
            raise AssertionError(f"unexpected dead letter: {poison}")

    for schema, records in (
        (V1, _records([_order(0)])),
        (V2, _records([_order(1, currency="EUR")], start=1)),
    ):
        writer = sink(schema).shard(SHARD)
        pipeline = ShardPipeline(writer, shard_id=SHARD, dead_letters=_NoLetters())
        pipeline.process(records)
        pipeline.flush()
        assert pipeline.events == 1

    table = sink(V2).table()
    data_type: Any = table.schema().find_field("data").field_type
    assert [f.name for f in data_type.fields][-1] == "currency"
    arrow = iceberg_query.scan(iceberg, bucket=bucket, prefix="events")
    con = iceberg_query.connect(arrow)
    rows = localquery.run(
        con, "SELECT id, data.amount, data.customer.id, data.currency FROM events ORDER BY id"
    )[1]
    assert rows == [("e0", 0.5, "c0", None), ("e1", 1.5, "c1", "EUR")]


def test_iceberg_table_with_a_json_string_data_refuses_a_declared_schema(
    s3: Any, bucket: str, tmp_path: Path
) -> None:
    pytest.importorskip("pyiceberg")
    from consumers import SinkError
    from consumers.sink.iceberg import IcebergConfig, IcebergSink

    iceberg = IcebergConfig(uri=f"sqlite:///{tmp_path}/catalog.db", table="analytics.orders")
    untyped = IcebergSink(
        bucket, stream="orders", config=SinkConfig(format="iceberg"), iceberg=iceberg
    )
    assert str(untyped.table().schema().find_field("data").field_type) == "string"
    typed = IcebergSink(
        bucket,
        stream="orders",
        config=SinkConfig(format="iceberg", data_schema=DataSchema.parse(V1)),
        iceberg=iceberg,
    )
    with pytest.raises(SinkError, match="cannot take the declared data schema"):
        typed.table()
