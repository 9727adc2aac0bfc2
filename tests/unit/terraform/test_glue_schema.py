"""The Glue table in ``s3_output`` is the table the S3 sink writes.

Columns, partitions, partition projection, location template and SerDe are compared with
:mod:`consumers.schema` and :mod:`consumers.athena` (which the sink and the generated
Athena DDL use), for both output formats, so a change to the sink's schema or key layout
fails here until the Terraform follows it.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from typing import Any

import pytest
from terraform_model import Instance

from consumers import athena
from consumers.schema import SCHEMA
from consumers.sink.config import SinkConfig

BUCKET = "shardflow-output-123456789012"


def _table(inst: Instance) -> dict[str, Any]:
    (table,) = inst.resources("aws_glue_catalog_table")
    return table.body


def _dynamic_source(block: dict[str, Any], name: str) -> str:
    (dynamic,) = [d for d in block["dynamic"] if name in d]
    for_each: str = dynamic[name]["for_each"]
    content = dynamic[name]["content"][0]
    # Each column block copies name, type and comment from the list it iterates.
    assert content == {
        "name": f"${{{name}.value.name}}",
        "type": f"${{{name}.value.type}}",
        "comment": f"${{{name}.value.comment}}",
    }
    return for_each


def test_columns_are_the_sinks_columns_in_file_order(module: Callable[..., Instance]) -> None:
    inst = module("s3_output", bucket_name=BUCKET)
    storage = _table(inst)["storage_descriptor"][0]
    columns = inst.eval(_dynamic_source(storage, "columns"))
    assert [(c["name"], c["type"], c["comment"]) for c in columns] == [
        (c.name, c.type, c.comment) for c in SCHEMA.columns
    ]


def test_partitions_are_the_sinks_partitions_in_key_order(module: Callable[..., Instance]) -> None:
    inst = module("s3_output", bucket_name=BUCKET)
    partitions = inst.eval(_dynamic_source(_table(inst), "partition_keys"))
    assert [(p["name"], p["type"], p["comment"]) for p in partitions] == [
        (p.name, p.type, p.comment) for p in SCHEMA.partitions
    ]
    assert [p["name"] for p in partitions] == ["dt", "hr"]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
@pytest.mark.parametrize("prefix", ["events", "data/shardflow"])
def test_projection_location_and_serde_match_the_athena_ddl(
    module: Callable[..., Instance], fmt: str, prefix: str
) -> None:
    inst = module("s3_output", bucket_name=BUCKET, output_format=fmt, output_prefix=prefix)
    table = _table(inst)
    config = SinkConfig(format=fmt, prefix=prefix)  # type: ignore[arg-type]
    parameters = inst.eval(table["parameters"])
    assert parameters.pop("EXTERNAL") == "TRUE"
    assert parameters == athena.table_parameters(BUCKET, config)
    assert parameters["storage.location.template"] == (
        f"s3://{BUCKET}/{prefix}/dt=${{dt}}/hr=${{hr}}/"
    )
    storage = table["storage_descriptor"][0]
    expected = athena.storage_format(config.format)
    assert inst.eval(storage["location"]) == athena.table_location(BUCKET, config)
    assert inst.eval(storage["input_format"]) == expected.input_format
    assert inst.eval(storage["output_format"]) == expected.output_format
    serde = storage["ser_de_info"][0]
    assert inst.eval(serde["serialization_library"]) == expected.serde
    assert inst.eval(serde["parameters"]) == expected.serde_parameters
    assert inst.eval(table["table_type"]) == "EXTERNAL_TABLE"


def test_sink_and_terraform_agree_on_the_output_format_names(
    module: Callable[..., Instance],
) -> None:
    inst = module("s3_output", bucket_name=BUCKET)
    assert set(inst.local("storage_formats")) == {"parquet", "jsonl"}
    for fmt in ("parquet", "jsonl"):
        SinkConfig(format=fmt)  # type: ignore[arg-type]  # the sink accepts the same names


# --- The Iceberg table (table_format = "iceberg") ------------------------------------------


def _heredoc(text: str) -> str:
    """The value of a ``<<-SQL`` heredoc as python-hcl2 gives it (markers kept)."""
    lines = text.splitlines()
    assert lines[0] == "<<-SQL" and lines[-1].strip() == "SQL", text[:40]
    return textwrap.dedent("\n".join(lines[1:-1]) + "\n")


def _iceberg_ddl(database: str, table: str, location: str, vacuum_age: int) -> str:
    """The Athena DDL of the sink's Iceberg table, from consumers.schema: its columns in file
    order, then the partition columns, identity-partitioned (consumers.sink.iceberg.catalog)."""
    columns = [*SCHEMA.columns, *SCHEMA.partitions]
    body = ",\n".join(
        f"  `{c.name}` {c.type} COMMENT '{c.comment.replace(chr(39), chr(39) * 2)}'"
        for c in columns
    )
    partitions = ", ".join(f"`{p.name}`" for p in SCHEMA.partitions)
    return (
        f"CREATE TABLE `{database}`.`{table}` (\n{body}\n)\n"
        f"PARTITIONED BY ({partitions})\n"
        f"LOCATION '{location}'\n"
        "TBLPROPERTIES (\n"
        "  'table_type' = 'ICEBERG',\n"
        "  'format' = 'parquet',\n"
        f"  'vacuum_max_snapshot_age_seconds' = '{vacuum_age}'\n"
        ")\n"
    )


def _named_queries(inst: Instance) -> dict[str, dict[str, Any]]:
    return {q.name: q.body for q in inst.resources("aws_athena_named_query")}


@pytest.mark.parametrize("prefix", ["events", "data/shardflow"])
def test_iceberg_ddl_is_the_sinks_table(module: Callable[..., Instance], prefix: str) -> None:
    inst = module(
        "s3_output",
        bucket_name=BUCKET,
        table_format="iceberg",
        output_prefix=prefix,
        glue_database_name="analytics",
        glue_table_name="orders",
        iceberg_vacuum_max_snapshot_age_seconds=86400 * 7,
    )
    assert not inst.resources("aws_glue_catalog_table")  # no Hive table over it
    queries = _named_queries(inst)
    assert set(queries) == {"iceberg_create_table", "iceberg_optimize", "iceberg_vacuum"}
    create = queries["iceberg_create_table"]
    assert create["query"] == "${local.iceberg_create_table}"
    # Where the writer puts a table it creates itself: the Glue catalog's convention,
    # WAREHOUSE/DATABASE.db/TABLE, with the warehouse the consumers get.
    warehouse = f"s3://{BUCKET}/{prefix}"
    assert inst.local("iceberg_warehouse") == warehouse
    location = f"{warehouse}/analytics.db/orders"
    expected = _iceberg_ddl("analytics", "orders", location, 604800)
    assert _heredoc(inst.local("iceberg_create_table")) == expected
    assert inst.local("iceberg_table") == "analytics.orders"


def test_iceberg_column_types_are_the_writers(module: Callable[..., Instance]) -> None:
    # Athena's types of the DDL are the names the writer maps to Iceberg types.
    from consumers.sink.iceberg import catalog

    pytest.importorskip("pyiceberg", reason="the iceberg extra is not installed")
    schema, spec = catalog.iceberg_schema(SCHEMA)
    iceberg = {"string": "string", "long": "bigint", "int": "int", "timestamp": "timestamp"}
    ddl = _heredoc(module("s3_output", table_format="iceberg").local("iceberg_create_table"))
    declared = dict(re.findall(r"^\s+`(\w+)` (\w+) COMMENT", ddl, flags=re.M))
    assert declared == {f.name: iceberg[str(f.field_type)] for f in schema.fields}
    partitioned = re.search(r"PARTITIONED BY \((.*)\)", ddl)
    assert partitioned is not None
    assert partitioned.group(1) == ", ".join(
        f"`{schema.find_field(f.source_id).name}`" for f in spec.fields
    )
    assert all(str(f.transform) == "identity" for f in spec.fields)


def test_iceberg_maintenance_queries(module: Callable[..., Instance]) -> None:
    inst = module("s3_output", bucket_name=BUCKET, table_format="iceberg")
    queries = _named_queries(inst)
    table = "`shardflow`.`events`"
    assert inst.eval(queries["iceberg_optimize"]["query"]) == (
        f"OPTIMIZE {table} REWRITE DATA USING BIN_PACK"
    )
    assert inst.eval(queries["iceberg_vacuum"]["query"]) == f"VACUUM {table}"
    for body in queries.values():
        assert body["database"] == "${aws_glue_catalog_database.this[0].name}"
        assert inst.eval(body["workgroup"]) == "shardflow"
    # Without the module's workgroup, the account's primary one.
    primary = module("s3_output", table_format="iceberg", create_athena_workgroup=False)
    assert {primary.eval(b["workgroup"]) for b in _named_queries(primary).values()} == {"primary"}
    assert primary.local("iceberg_workgroup") == "primary"
    # The defaults name the table the consumers commit to by default.
    from consumers.sink.iceberg.config import DEFAULT_TABLE

    assert inst.local("iceberg_table") == DEFAULT_TABLE
    # The Hive variant has none of them; without the catalog, neither.
    assert not _named_queries(module("s3_output", bucket_name=BUCKET))
    assert not _named_queries(
        module("s3_output", table_format="iceberg", create_glue_catalog=False)
    )


def test_iceberg_needs_parquet(module: Callable[..., Instance]) -> None:
    inst = module("s3_output", table_format="iceberg", output_format="jsonl")
    (bucket,) = inst.resources("aws_s3_bucket")
    conditions = [p["condition"] for life in bucket.body["lifecycle"] for p in life["precondition"]]
    (condition,) = [c for c in conditions if "table_format" in c]
    assert inst.eval(condition) is False
    assert module("s3_output", table_format="iceberg").eval(condition) is True
    assert module("s3_output", output_format="jsonl").eval(condition) is True
