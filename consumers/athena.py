"""The Athena / Glue table over the sink's output, generated from :data:`consumers.schema.SCHEMA`.

Partition projection (``projection.*`` table properties and
``storage.location.template``) tells Athena how to enumerate partitions from the S3 layout,
so no crawler and no ``MSCK REPAIR TABLE`` is needed. The Terraform Glue table declares the
same columns, SerDe and parameters; :func:`table_parameters` and :func:`storage_format`
are what it is checked against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from consumers.schema import TableSchema
from consumers.sink.config import OutputFormat, SinkConfig
from shardflow import resources


@dataclass(frozen=True, slots=True)
class StorageFormat:
    """Glue storage descriptor classes of one output format."""

    input_format: str
    output_format: str
    serde: str
    serde_parameters: dict[str, str] = field(default_factory=dict)
    classification: str = ""


_FORMATS: Final[dict[str, StorageFormat]] = {
    "parquet": StorageFormat(
        input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        serde="org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        serde_parameters={"serialization.format": "1"},
        classification="parquet",
    ),
    # gzip is recognised from the .gz extension. The Hive JSON SerDe reads our
    # "YYYY-MM-DD HH:MM:SS.mmm" timestamps (java.sql.Timestamp's form) without properties;
    # Athena documents the OpenX SerDe's results as non-deterministic.
    "jsonl": StorageFormat(
        input_format="org.apache.hadoop.mapred.TextInputFormat",
        output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        serde="org.apache.hive.hcatalog.data.JsonSerDe",
        classification="json",
    ),
}


def storage_format(fmt: OutputFormat) -> StorageFormat:
    """Input/output format and SerDe of ``fmt`` (``"parquet"`` or ``"jsonl"``)."""
    return _FORMATS[fmt]


def table_location(bucket: str, config: SinkConfig | None = None) -> str:
    """``s3://BUCKET/PREFIX/``: the table's location."""
    return f"s3://{bucket}/{(config or SinkConfig()).prefix}/"


def location_template(bucket: str, config: SinkConfig | None = None) -> str:
    """``storage.location.template``: the location with a ``${column}`` per partition."""
    config = config or SinkConfig()
    parts = "/".join(f"{name}=${{{name}}}" for name in config.schema.partition_names)
    return f"{table_location(bucket, config)}{parts}/"


def table_parameters(bucket: str, config: SinkConfig | None = None) -> dict[str, str]:
    """The table properties: classification and partition projection."""
    config = config or SinkConfig()
    params: dict[str, str] = {
        "classification": storage_format(config.format).classification,
        "projection.enabled": "true",
    }
    for part in config.schema.partitions:
        for name, value in part.projection.items():
            params[f"projection.{part.name}.{name}"] = value
    params["storage.location.template"] = location_template(bucket, config)
    return params


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _columns(defs: list[tuple[str, str, str]]) -> str:
    return ",\n".join(
        f"  `{name}` {type_} COMMENT {_quote(comment)}" for name, type_, comment in defs
    )


def create_table_ddl(
    bucket: str,
    *,
    config: SinkConfig | None = None,
    table: str = resources.GLUE_TABLE,
    database: str | None = resources.GLUE_DATABASE,
) -> str:
    """``CREATE EXTERNAL TABLE`` for Athena over the sink's output in ``bucket``.

    The columns, partitions and format come from ``config`` (its :attr:`SinkConfig.schema`);
    the same statement works for Parquet and JSON Lines output.
    """
    config = config or SinkConfig()
    schema: TableSchema = config.schema
    fmt = storage_format(config.format)
    name = f"`{database}`.`{table}`" if database else f"`{table}`"
    serde_props = ",\n".join(f"  {_quote(k)}={_quote(v)}" for k, v in fmt.serde_parameters.items())
    # WITH SERDEPROPERTIES () with nothing in it does not parse.
    serde_clause = f"WITH SERDEPROPERTIES (\n{serde_props}\n)\n" if serde_props else ""
    table_props = ",\n".join(
        f"  {_quote(k)}={_quote(v)}" for k, v in table_parameters(bucket, config).items()
    )
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {name} (\n"
        f"{_columns([(c.name, c.type, c.comment) for c in schema.columns])}\n)\n"
        f"PARTITIONED BY (\n"
        f"{_columns([(p.name, p.type, p.comment) for p in schema.partitions])}\n)\n"
        f"ROW FORMAT SERDE {_quote(fmt.serde)}\n"
        f"{serde_clause}"
        f"STORED AS INPUTFORMAT {_quote(fmt.input_format)}\n"
        f"OUTPUTFORMAT {_quote(fmt.output_format)}\n"
        f"LOCATION {_quote(table_location(bucket, config))}\n"
        f"TBLPROPERTIES (\n{table_props}\n);\n"
    )
