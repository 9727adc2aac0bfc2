"""One schema drives the Parquet files, the JSON lines and the Athena DDL."""

from __future__ import annotations

import re

import pytest

from consumers import SCHEMA, PartitionKey, SinkConfig, create_table_ddl, table_parameters
from consumers.athena import location_template, storage_format
from shardflow.errors import ConfigError


def test_columns_hold_envelope_then_origin() -> None:
    assert SCHEMA.column_names == (
        "id",
        "source",
        "type",
        "time",
        "specversion",
        "data",
        "extensions",
        "stream",
        "shard_id",
        "sequence_number",
        "sub_sequence_number",
        "partition_key",
        "arrival_time",
    )
    assert SCHEMA.partition_names == ("dt", "hr")
    types = {c.name: c.type for c in SCHEMA.columns}
    assert types["time"] == types["arrival_time"] == "timestamp"
    assert types["sub_sequence_number"] == "bigint"


def test_arrow_schema_matches_the_columns() -> None:
    arrow = SCHEMA.arrow_schema()
    assert arrow.names == list(SCHEMA.column_names)
    assert str(arrow.field("time").type) == "timestamp[ms]"
    assert str(arrow.field("sub_sequence_number").type) == "int64"


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_ddl_declares_every_column_partition_and_projection(fmt: str) -> None:
    config = SinkConfig(format=fmt)  # type: ignore[arg-type]
    ddl = create_table_ddl("my-bucket", config=config)
    assert ddl.startswith("CREATE EXTERNAL TABLE IF NOT EXISTS `shardflow`.`events` (")
    declared = re.findall(r"^  `(\w+)` (\w+) COMMENT", ddl, flags=re.M)
    assert declared == [(c.name, c.type) for c in SCHEMA.columns] + [
        ("dt", "string"),
        ("hr", "int"),
    ]
    assert "LOCATION 's3://my-bucket/events/'" in ddl
    assert "'storage.location.template'='s3://my-bucket/events/dt=${dt}/hr=${hr}/'" in ddl
    assert "'projection.dt.type'='date'" in ddl
    assert "'projection.hr.type'='integer'" in ddl
    assert "'projection.hr.digits'='2'" in ddl
    assert storage_format(config.format).serde in ddl


def test_json_lines_table_uses_the_hive_json_serde() -> None:
    # Athena documents the OpenX JSON SerDe's results as non-deterministic (rows missing,
    # extra, or null where the data has values) and recommends the Hive JSON SerDe, which
    # reads our timestamps ("YYYY-MM-DD HH:MM:SS.mmm", java.sql.Timestamp's form) as is.
    ddl = create_table_ddl("my-bucket", config=SinkConfig(format="jsonl"))
    assert "ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'\nSTORED AS" in ddl
    assert "openx" not in ddl
    assert "SERDEPROPERTIES" not in ddl  # an empty property list is a syntax error
    parquet = create_table_ddl("my-bucket", config=SinkConfig(format="parquet"))
    assert "WITH SERDEPROPERTIES (\n  'serialization.format'='1'\n)" in parquet


def test_partition_keys_extend_table_and_template() -> None:
    config = SinkConfig(
        partition_keys=(
            PartitionKey("event_type", "type", projection="enum", values=("a", "b")),
            PartitionKey("tenant", "data.tenant"),
        )
    )
    assert config.schema.partition_names == ("dt", "hr", "event_type", "tenant")
    params = table_parameters("b", config)
    assert params["projection.event_type.type"] == "enum"
    assert params["projection.event_type.values"] == "a,b"
    assert params["projection.tenant.type"] == "injected"
    assert location_template("b", config).endswith(
        "hr=${hr}/event_type=${event_type}/tenant=${tenant}/"
    )


def test_partition_key_values() -> None:
    key = PartitionKey("tenant", "data.tenant", default="none")
    assert key.value({"data": {"tenant": "acme/eu 1"}}) == "acme_eu_1"
    assert key.value({"data": {}}) == "none"
    assert key.value({"data": "not an object"}) == "none"
    num = PartitionKey("bucket", "data.n", projection="integer", range=(0, 99), digits=2)
    assert num.value({"data": {"n": 7}}) == "07"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "type", "source": "type"}, "partition_keys.name"),
        ({"name": "dt", "source": "type"}, "partition_keys.name"),
        ({"name": "Bad-Name", "source": "type"}, "partition_keys.name"),
        ({"name": "k", "source": "data..x"}, "partition_keys.source"),
        ({"name": "k", "source": "type", "projection": "enum"}, "partition_keys.values"),
        ({"name": "k", "source": "type", "projection": "integer"}, "partition_keys.range"),
        ({"name": "k", "source": "type", "projection": "date"}, "partition_keys.date_format"),
        ({"name": "k", "source": "type", "projection": "list"}, "partition_keys.projection"),
    ],
)
def test_bad_partition_keys_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        PartitionKey(**kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


def test_duplicate_partition_keys_are_rejected() -> None:
    key = PartitionKey("k", "type")
    with pytest.raises(ConfigError, match="duplicate"):
        SinkConfig(partition_keys=(key, key))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"format": "csv"}, "format"),
        ({"prefix": ""}, "prefix"),
        ({"prefix": "_hidden"}, "prefix"),
        ({"max_bytes": 10}, "max_bytes"),
        ({"max_records": 0}, "max_records"),
        ({"max_span_seconds": 0}, "max_span_seconds"),
        ({"gzip_level": 11}, "gzip_level"),
    ],
)
def test_bad_sink_settings_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        SinkConfig(**kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


def test_sink_config_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARDFLOW_OUTPUT_FORMAT", "jsonl")
    monkeypatch.setenv("SHARDFLOW_SINK_MAX_RECORDS", "500")
    monkeypatch.setenv("SHARDFLOW_OUTPUT_PREFIX", "/out/")
    config = SinkConfig.from_env(max_span_seconds=10)
    assert (config.format, config.max_records, config.prefix, config.max_span_seconds) == (
        "jsonl",
        500,
        "out",
        10,
    )
    monkeypatch.setenv("SHARDFLOW_SINK_MAX_BYTES", "lots")
    with pytest.raises(ConfigError, match="SHARDFLOW_SINK_MAX_BYTES"):
        SinkConfig.from_env()
