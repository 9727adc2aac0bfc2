"""What the report's observer reads: objects as Athena sees them, and each row's put time."""

from __future__ import annotations

import gzip
import io

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shardflow_tools.report.observer import athena_visible, event_times


@pytest.mark.parametrize(
    ("key", "visible"),
    [
        ("lambda/dt=2026-12-04/hr=21/shardId-0-1-2.parquet", True),
        ("lambda/_manifests/x.json", False),
        ("lambda/dt=2026-12-04/.staging/x.parquet", False),
        ("lambda/", False),
        ("kcl/dt=2026-12-04/hr=21/x.parquet", False),  # another consumer's table
    ],
)
def test_athena_visible(key: str, visible: bool) -> None:
    assert athena_visible(key, "lambda") is visible


def test_event_times_from_parquet_and_json_lines() -> None:
    table = pa.table({"time": pa.array([1_700_000_000_123, None], pa.timestamp("ms", tz="UTC"))})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    assert event_times("a.parquet", sink.getvalue()) == [1_700_000_000.123]
    rows = [{"time": "2023-11-14T22:13:20.123Z"}, {"id": "no time"}]
    body = gzip.compress(b"\n".join(orjson.dumps(r) for r in rows))
    assert event_times("a.json.gz", body) == [pytest.approx(1_700_000_000.123)]
