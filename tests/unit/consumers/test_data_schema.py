"""The declared data schema: parsing the JSON Schema subset, the types it gives (Arrow, Hive,
DuckDB), the first failing field, and what follows from it (SinkConfig, the DDL, the
pipeline's schema_mismatch dead letters, the Parquet file)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from consumers import DataSchema, Event, KinesisRecord, Origin, PoisonRecord, SinkConfig
from consumers.athena import create_table_ddl
from consumers.deadletter import message_body
from consumers.pipeline import Counts, EventPipeline
from consumers.schema import SCHEMA
from consumers.sink.formats import encode_parquet
from shardflow import envelope, settings
from shardflow.errors import ConfigError

ARRIVAL = datetime(2026, 11, 26, 14, 26, 41, tzinfo=UTC)

DOC: dict[str, Any] = {
    "type": "object",
    "properties": {
        "amount": {"type": "number"},
        "n": {"type": "integer"},
        "ok": {"type": "boolean"},
        "at": {"type": "string", "format": "date-time"},
        "who": {
            "type": "object",
            "properties": {"id": {"type": "string"}},
            "required": ["id"],
        },
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["amount"],
}
SCHEMA_V1 = DataSchema.parse(DOC)


def test_types_follow_from_the_declaration() -> None:
    assert SCHEMA_V1.hive_type == (
        "struct<amount:double,n:bigint,ok:boolean,at:timestamp,who:struct<id:string>,"
        "tags:array<string>>"
    )
    assert SCHEMA_V1.duckdb_type == (
        "STRUCT(amount DOUBLE, n BIGINT, ok BOOLEAN, at TIMESTAMP, who STRUCT(id VARCHAR), "
        "tags VARCHAR[])"
    )
    arrow = SCHEMA_V1.arrow_type()
    assert arrow.field("amount").type == pa.float64() and not arrow.field("amount").nullable
    assert arrow.field("at").type == pa.timestamp("ms")
    assert arrow.field("who").type == pa.struct([pa.field("id", pa.string(), nullable=False)])
    assert arrow.field("tags").type == pa.list_(pa.string())


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"amount": 1}, None),
        ({"amount": 1.5, "n": None, "who": {"id": "x"}, "tags": ["a"]}, None),
        ({"amount": 1, "at": "2026-01-01T00:00:00Z"}, None),
        (None, None),  # no data: a NULL struct
        ({}, "data.amount"),
        ({"amount": None}, "data.amount"),
        ({"amount": "1"}, "data.amount"),
        ({"amount": True}, "data.amount"),  # a bool is not a number
        ({"amount": 1, "n": 1.5}, "data.n"),
        ({"amount": 1, "n": 2**63}, "data.n"),  # outside int64
        ({"amount": 1, "ok": 1}, "data.ok"),
        ({"amount": 1, "at": "2026-01-01T00:00:00"}, "data.at"),  # no offset
        ({"amount": 1, "at": "yesterday"}, "data.at"),
        ({"amount": 1, "who": {}}, "data.who.id"),
        ({"amount": 1, "who": "x"}, "data.who"),
        ({"amount": 1, "tags": ["a", 2]}, "data.tags[1]"),
        ({"amount": 1, "tags": "a"}, "data.tags"),
        ({"amount": 1, "extra": 1}, "data.extra"),
        ([1], "data"),
    ],
)
def test_mismatch_names_the_first_field_that_does_not_fit(data: Any, field: str | None) -> None:
    assert SCHEMA_V1.mismatch(data) == field


@pytest.mark.parametrize(
    "doc",
    [
        {"type": "string"},
        {"type": "object", "properties": {}},
        {"type": "object", "properties": {"a": {"type": "null"}}},
        {"type": "object", "properties": {"a": {"type": "string", "format": "email"}}},
        {"type": "object", "properties": {"A": {"type": "string"}}},
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]},
        {"type": "object", "properties": {"a": {"type": "array"}}},
    ],
)
def test_outside_the_subset_is_a_config_error(doc: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        DataSchema.parse(doc)


def test_sink_config_reads_the_schema_file_and_types_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "data.json"
    path.write_text(json.dumps(DOC))
    monkeypatch.setenv(settings.DATA_SCHEMA, str(path))
    monkeypatch.delenv(settings.OUTPUT_FORMAT, raising=False)  # Parquet, whatever ran before
    config = SinkConfig.from_env()
    assert config.data_schema == SCHEMA_V1
    (data,) = [c for c in config.schema.columns if c.name == "data"]
    assert data.type == SCHEMA_V1.hive_type
    assert data.duckdb_type == SCHEMA_V1.duckdb_type
    assert f"`data` {SCHEMA_V1.hive_type}" in create_table_ddl("b", config=config)
    # Everything but data is as without a declaration.
    assert [c for c in config.schema.columns if c.name != "data"] == [
        c for c in SCHEMA.columns if c.name != "data"
    ]
    monkeypatch.setenv(settings.DATA_SCHEMA, str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="data_schema"):
        SinkConfig.from_env()


def test_without_a_declaration_data_stays_a_json_string() -> None:
    config = SinkConfig()
    assert config.data_schema is None
    assert config.schema == SCHEMA
    assert "`data` string" in create_table_ddl("b", config=config)


def test_json_lines_refuses_a_declared_schema() -> None:
    with pytest.raises(ConfigError, match="parquet"):
        SinkConfig(format="jsonl", data_schema=SCHEMA_V1)


def test_parquet_writes_data_as_a_struct() -> None:
    schema = SCHEMA.with_data(SCHEMA_V1)
    row = {
        "id": ["a", "b"],
        "source": ["s", "s"],
        "type": ["t", "t"],
        "time": [None, None],
        "specversion": ["1.0", "1.0"],
        "data": ['{"amount":1,"at":"2026-01-01T01:00:00.5+01:00","tags":["x"]}', None],
        "extensions": [None, None],
        "stream": ["st", "st"],
        "shard_id": ["sh", "sh"],
        "sequence_number": ["1", "2"],
        "sub_sequence_number": [None, None],
        "partition_key": ["p", "p"],
        "arrival_time": [0, 0],
    }
    table = pq.read_table(io.BytesIO(encode_parquet(row, schema)))
    assert table.schema.field("data").type == SCHEMA_V1.arrow_type()
    first, second = table.column("data").to_pylist()
    assert first["amount"] == 1.0 and first["tags"] == ["x"] and first["who"] is None
    assert first["at"] == datetime(2026, 1, 1, 0, 0, 0, 500000)  # naive UTC
    assert second is None


class _Output:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.skipped: list[Origin] = []

    def add(self, event: Event) -> None:
        self.events.append(event.id)

    def skip(self, origin: Origin) -> None:
        self.skipped.append(origin)


class _Queue:
    def __init__(self) -> None:
        self.sent: list[PoisonRecord] = []

    def send(self, poison: PoisonRecord) -> None:
        self.sent.append(poison)


def _record(seq: int, event_id: str, data: Any) -> KinesisRecord:
    raw = envelope.encode(
        envelope.build({"id": event_id, "type": "t", "data": data}, default_source="tests")
    )
    return KinesisRecord("s", "shardId-000000000001", str(seq), "pk", raw, ARRIVAL)


@pytest.mark.parametrize("with_handler", [False, True])
def test_the_pipeline_dead_letters_a_mismatch_before_the_output(with_handler: bool) -> None:
    queue, output, counts = _Queue(), _Output(), Counts()
    pipeline = EventPipeline(dead_letters=queue, data_schema=SCHEMA_V1)
    if with_handler:
        pipeline = pipeline.with_handler(lambda e: e)
    records = [
        _record(1, "ok", {"amount": 1}),
        _record(2, "bad", {"amount": "x"}),
        _record(3, "ok2", {"amount": 2}),
    ]
    for rec in records:
        pipeline.process(rec, output, counts)
    assert output.events == ["ok", "ok2"]
    assert output.skipped == [records[1].origin]
    (poison,) = queue.sent
    assert (poison.reason, poison.field, poison.payload) == (
        "schema_mismatch",
        "data.amount",
        records[1].data,
    )
    assert (counts.events, counts.dead_lettered) == (2, 1)
    body = json.loads(message_body(poison))
    assert (body["reason"], body["field"]) == ("schema_mismatch", "data.amount")


def test_the_handlers_replacement_is_what_is_checked() -> None:
    queue, output, counts = _Queue(), _Output(), Counts()

    def spoil(event: Event) -> Event:
        return event._replace(envelope={**event.envelope, "data": {"amount": None}})

    pipeline = EventPipeline(dead_letters=queue, data_schema=SCHEMA_V1, handler=spoil)
    pipeline.process(_record(1, "ok", {"amount": 1}), output, counts)
    assert output.events == []
    assert [p.field for p in queue.sent] == ["data.amount"]


PER_TYPE: dict[str, Any] = {
    "types": {
        "order.created": {
            "type": "object",
            "properties": {"amount": {"type": "number"}, "who": {"type": "string"}},
            "required": ["amount", "who"],
        },
        "order.refunded": {
            "type": "object",
            "properties": {"amount": {"type": "number"}, "reason": {"type": "string"}},
            "required": ["amount"],
        },
    },
}


def test_per_type_schemas_check_each_type_and_the_column_is_their_union() -> None:
    schema = DataSchema.parse(PER_TYPE)
    assert schema.hive_type == "struct<amount:double,who:string,reason:string>"
    arrow = schema.arrow_type()
    # Required in every type: not null; in only one: nullable.
    assert not arrow.field("amount").nullable
    assert arrow.field("who").nullable and arrow.field("reason").nullable
    assert schema.mismatch({"amount": 1, "who": "x"}, "order.created") is None
    assert schema.mismatch({"amount": 1}, "order.created") == "data.who"
    assert schema.mismatch({"amount": 1, "reason": "r"}, "order.created") == "data.reason"
    assert schema.mismatch({"amount": 1, "reason": "r"}, "order.refunded") is None
    assert schema.mismatch({"amount": 1}, "order.shipped") == "data"  # no schema, no default
    with_default = DataSchema.parse(
        PER_TYPE | {"default": {"type": "object", "properties": {"note": {"type": "string"}}}}
    )
    assert with_default.mismatch({"note": "n"}, "order.shipped") is None
    assert with_default.hive_type == "struct<amount:double,who:string,reason:string,note:string>"


def test_a_field_of_two_kinds_in_two_types_is_a_config_error() -> None:
    doc = {
        "types": {
            "a": {"type": "object", "properties": {"x": {"type": "string"}}},
            "b": {"type": "object", "properties": {"x": {"type": "integer"}}},
        }
    }
    with pytest.raises(ConfigError, match=r"data\.x is string in one type and integer"):
        DataSchema.parse(doc)


def test_the_pipeline_checks_each_event_against_its_types_schema() -> None:
    queue, output, counts = _Queue(), _Output(), Counts()
    pipeline = EventPipeline(dead_letters=queue, data_schema=DataSchema.parse(PER_TYPE))

    def record(seq: int, event_id: str, event_type: str, data: Any) -> KinesisRecord:
        raw = envelope.encode(
            envelope.build(
                {"id": event_id, "type": event_type, "data": data}, default_source="tests"
            )
        )
        return KinesisRecord("s", "shardId-000000000001", str(seq), "pk", raw, ARRIVAL)

    for rec in (
        record(1, "c", "order.created", {"amount": 1, "who": "w"}),
        record(2, "r", "order.refunded", {"amount": 1}),
        record(3, "bad", "order.created", {"amount": 1}),
    ):
        pipeline.process(rec, output, counts)
    assert output.events == ["c", "r"]
    assert [p.field for p in queue.sent] == ["data.who"]
