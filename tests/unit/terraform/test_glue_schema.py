"""The Glue table in ``s3_output`` is the table the S3 sink writes.

Columns, partitions, partition projection, location template and SerDe are compared with
:mod:`consumers.schema` and :mod:`consumers.athena` (which the sink and the generated
Athena DDL use), for both output formats, so a change to the sink's schema or key layout
fails here until the Terraform follows it.
"""

from __future__ import annotations

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
