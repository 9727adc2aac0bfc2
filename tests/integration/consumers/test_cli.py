"""``shardflow query`` answers the documented example queries; ``shardflow ddl`` prints the DDL."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from consumers import Event, S3Sink, SinkConfig, decode, localquery
from shardflow_tools.cli import main

from .conftest import SHARD, make_records

ROOT = Path(__file__).resolve().parents[3]
#: The pages that show example queries: the query reference (events per type and hour, then
#: duplicates by id, first) and the analyst's quick start.
DOCUMENTED = (ROOT / "docs" / "consumers.md", ROOT / "README.md")


def _documented_queries() -> list[str]:
    queries: list[str] = []
    for page in DOCUMENTED:
        found = re.findall(r'^shardflow query "(.+)"$', page.read_text(), flags=re.M)
        assert len(found) >= 2, f"{page.name} shows example queries"
        queries += found
    return queries


def _write(s3: Any, bucket: str, fmt: str) -> list[Event]:
    events = [e for r in make_records("orders", 30) for e in decode(r) if isinstance(e, Event)]
    S3Sink(bucket, stream="orders", s3_client=s3, config=SinkConfig(format=fmt)).write_batch(  # type: ignore[arg-type]
        SHARD, events
    )
    return events


def _csv(out: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(out)))


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_documented_queries_answer_from_the_emulator(
    s3: Any, bucket: str, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    events = _write(s3, bucket, fmt)
    per_type_hour, duplicates, *_ = _documented_queries()

    assert main(["query", per_type_hour, "--bucket", bucket, "--output", "csv"]) == 0
    got = {(r["dt"], r["hr"], r["type"]): int(r["events"]) for r in _csv(capsys.readouterr().out)}
    expected = Counter(
        (e.time.strftime("%Y-%m-%d"), str(e.time.hour), e.type) for e in events if e.time
    )
    assert got == dict(expected)

    assert main(["query", duplicates, "--bucket", bucket, "--output", "csv"]) == 0
    assert _csv(capsys.readouterr().out) == []

    for sql in _documented_queries()[2:]:
        assert main(["query", sql, "--bucket", bucket]) == 0
        assert "row" in capsys.readouterr().out


def test_query_on_a_local_folder_sees_a_duplicate(
    s3: Any, bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(s3, bucket, "parquet")
    localquery.download(s3, bucket, "events", tmp_path)
    # An operator copies a file by hand: the duplicates query must show it.
    original = next(tmp_path.rglob("*.parquet"))
    (original.parent / ("copy-" + original.name)).write_bytes(original.read_bytes())
    duplicates = _documented_queries()[1]
    assert main(["query", duplicates, "--path", str(tmp_path), "--output", "json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and all('"copies":2' in line for line in lines)


def test_query_errors_are_reported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["query", "SELECT nope FROM events", "--path", str(tmp_path)]) == 1
    assert "nope" in capsys.readouterr().err
    assert main(["query", "SELECT 1", "--path", str(tmp_path / "missing")]) == 1
    assert "not a folder" in capsys.readouterr().err


def test_empty_output_is_an_empty_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert (
        main(["query", "SELECT count(*) AS n FROM shardflow.events", "--path", str(tmp_path)]) == 0
    )
    assert capsys.readouterr().out.splitlines()[2].strip() == "0"


def test_ddl_command_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ddl", "--bucket", "my-bucket", "--format", "parquet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CREATE EXTERNAL TABLE IF NOT EXISTS `shardflow`.`events`")
    assert "ParquetHiveSerDe" in out and "s3://my-bucket/events/dt=${dt}/hr=${hr}/" in out
