"""``shardflow query --format iceberg`` reads the Iceberg table (a pyiceberg scan into DuckDB)
and answers the documented example queries exactly as the Hive table does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyiceberg")

from consumers import Event, S3Sink, SinkConfig, decode
from shardflow_tools.cli import main

from .conftest import SHARD, make_records
from .test_cli import _documented_queries


def test_documented_queries_give_the_same_answers_on_iceberg_and_hive(
    s3: Any,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SHARDFLOW_ICEBERG_CATALOG_URI", f"sqlite:///{tmp_path}/catalog.db")
    events = [e for r in make_records("orders", 30) for e in decode(r) if isinstance(e, Event)]
    for fmt, prefix in (("parquet", "events"), ("iceberg", "iceberg")):
        config = SinkConfig(format=fmt, prefix=prefix, max_records=40)  # type: ignore[arg-type]
        S3Sink(bucket, stream="orders", s3_client=s3, config=config).write_batch(SHARD, events)

    queries = _documented_queries()
    assert len(queries) >= 3
    for sql in queries:
        assert main(["query", sql, "--bucket", bucket, "--output", "csv"]) == 0
        hive = capsys.readouterr().out
        args = ["query", sql, "--bucket", bucket, "--prefix", "iceberg", "--format", "iceberg"]
        assert main([*args, "--output", "csv"]) == 0
        assert capsys.readouterr().out == hive, sql
    count = "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM events"
    assert main(["query", count, "--bucket", bucket, "--format", "iceberg", "--output", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == f"{len(events)},{len(events)}"


def test_a_missing_iceberg_table_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], bucket: str
) -> None:
    monkeypatch.setenv("SHARDFLOW_ICEBERG_CATALOG_URI", f"sqlite:///{tmp_path}/empty.db")
    assert main(["query", "SELECT 1", "--bucket", bucket, "--format", "iceberg"]) == 1
    assert "no Iceberg table shardflow.events" in capsys.readouterr().err
