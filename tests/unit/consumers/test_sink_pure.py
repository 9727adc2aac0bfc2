"""The sink's pure parts: key layout, flush boundaries, partitioning, file encoders."""

from __future__ import annotations

import gzip
import io
from datetime import UTC, datetime, timedelta

import orjson
import pyarrow.parquet as pq
from hypothesis import given
from hypothesis import strategies as st

from consumers import Event, Origin, Position, SinkConfig
from consumers.sink import formats, layout
from consumers.sink.buffer import ShardBuffer

T0 = datetime(2026, 11, 26, 23, 59, 58, tzinfo=UTC)

positions = st.builds(
    Position,
    st.integers(min_value=0, max_value=10**60).map(str),
    st.none() | st.integers(min_value=0, max_value=10**6),
)


@given(st.lists(positions, min_size=2, max_size=20, unique=True))
def test_manifest_keys_list_in_stream_order(items: list[Position]) -> None:
    keys = {layout.manifest_key("p", "s", "shardId-0", p): p for p in items}
    assert [keys[k] for k in sorted(keys)] == sorted(items)


@given(positions, positions)
def test_start_after_lists_exactly_the_flushes_ending_at_or_after(a: Position, b: Position) -> None:
    start_after = layout.manifests_start_after("p", "s", "shardId-0", a)
    listed = layout.manifest_key("p", "s", "shardId-0", b) > start_after
    assert listed == (b >= a)


def test_object_keys_are_a_function_of_stream_shard_and_range() -> None:
    key = layout.object_key(
        "events",
        partition=(("dt", "2026-11-26"), ("hr", "07")),
        stream="orders",
        shard_id="shardId-000000000001",
        first=Position("100", 0),
        last=Position("205"),
        extension="parquet",
    )
    assert key == "events/dt=2026-11-26/hr=07/orders_shardId-000000000001_100.0_205.parquet"


def _event(seq: int, *, time: datetime | None, arrival: datetime = T0, size: int = 100) -> Event:
    env: dict[str, object] = {
        "id": f"id-{seq}",
        "source": "src",
        "type": "t",
        "specversion": "1.0",
        "data": {"n": seq, "s": "é"},
    }
    if time is not None:
        env["time"] = time.isoformat()
    origin = Origin("s", "shardId-000000000000", str(seq), None, f"pk{seq}", arrival)
    return Event(env, origin, b"x" * size, time)


def test_events_are_partitioned_by_utc_hour_of_event_time() -> None:
    buf = ShardBuffer(SinkConfig())
    for i, t in enumerate([T0, T0 + timedelta(seconds=3), None]):
        e = _event(i, time=t, arrival=T0 - timedelta(minutes=10 if t else 60))
        buf.append(e, buf.arrival_ms(e))
    parts = {p: len(c) for p, c in buf.items()}
    assert parts == {
        (("dt", "2026-11-26"), ("hr", "23")): 1,
        (("dt", "2026-11-27"), ("hr", "00")): 1,
        # no time attribute: partitioned by arrival time
        (("dt", "2026-11-26"), ("hr", "22")): 1,
    }
    assert (buf.first, buf.last, buf.count) == (Position("0"), Position("2"), 3)


def test_size_and_count_boundaries() -> None:
    buf = ShardBuffer(SinkConfig(max_bytes=1024, max_records=100))
    e = _event(1, time=T0, size=600)
    buf.append(e, buf.arrival_ms(e))
    assert not buf.full
    e = _event(2, time=T0, size=600)
    buf.append(e, buf.arrival_ms(e))
    assert buf.full


def test_arrival_span_boundary_is_measured_on_the_records() -> None:
    buf = ShardBuffer(SinkConfig(max_span_seconds=60))
    first = _event(1, time=T0, arrival=T0)
    assert not buf.span_reached(buf.arrival_ms(first))  # empty: nothing to flush
    buf.append(first, buf.arrival_ms(first))
    assert not buf.span_reached(
        buf.arrival_ms(_event(2, time=T0, arrival=T0 + timedelta(seconds=59)))
    )
    assert buf.span_reached(buf.arrival_ms(_event(3, time=T0, arrival=T0 + timedelta(seconds=60))))


def _columns(n: int) -> dict[str, list[object]]:
    buf = ShardBuffer(SinkConfig())
    for i in range(n):
        e = _event(i, time=T0 if i % 2 else None)
        e.envelope["subject"] = "ext" if i == 0 else None
        if i:
            del e.envelope["subject"]
        buf.append(e, buf.arrival_ms(e))
    rows: dict[str, list[object]] = {}
    for _, cols in buf.items():
        for k, v in cols.as_dict("s", "shardId-000000000000").items():
            rows.setdefault(k, []).extend(v)
    return rows


def test_parquet_file_holds_the_schema_columns() -> None:
    config = SinkConfig()
    table = pq.read_table(io.BytesIO(formats.encode(_columns(4), config)))
    assert table.schema.names == list(config.schema.column_names)
    assert (
        pq.ParquetFile(io.BytesIO(formats.encode(_columns(4), config)))
        .metadata.row_group(0)
        .column(0)
        .compression
        == "ZSTD"
    )
    rows = sorted(table.to_pylist(), key=lambda r: r["sequence_number"])
    assert rows[1]["time"] == T0.replace(tzinfo=None)
    assert rows[0]["time"] is None
    assert orjson.loads(rows[1]["data"]) == {"n": 1, "s": "é"}
    assert orjson.loads(rows[0]["extensions"]) == {"subject": "ext"}
    assert rows[1]["extensions"] is None
    assert rows[0]["stream"] == "s"


def test_jsonl_file_holds_the_same_rows() -> None:
    config = SinkConfig(format="jsonl")
    blob = formats.encode(_columns(3), config)
    assert formats.encode(_columns(3), config) == blob  # same bytes on a rewrite
    lines = [orjson.loads(line) for line in gzip.decompress(blob).splitlines()]
    assert [list(line) for line in lines] == [list(config.schema.column_names)] * 3
    assert lines[1]["time"] == "2026-11-26 23:59:58.000"
    assert lines[1]["arrival_time"] == "2026-11-26 23:59:58.000"
    assert orjson.loads(lines[1]["data"]) == {"n": 1, "s": "é"}


def test_event_times_athena_cannot_project_are_partitioned_by_arrival() -> None:
    # Partition projection enumerates dt from 2020-01-01 to NOW: a row under any other dt
    # is invisible to Athena. Times before the range, or far ahead of the record's arrival
    # (a producer's broken clock), go to the arrival hour; `time` keeps what was sent.
    arrival = datetime(2026, 11, 26, 14, 30, tzinfo=UTC)
    times = [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2019, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(2020, 1, 1, tzinfo=UTC),  # first projected hour: kept
        arrival + timedelta(minutes=50),  # a skewed clock: kept
        arrival + timedelta(hours=2),
        datetime(2999, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    ]
    buf = ShardBuffer(SinkConfig(format="jsonl"))
    for i, t in enumerate(times):
        e = _event(i, time=t, arrival=arrival)
        buf.append(e, buf.arrival_ms(e))
    parts = {dict(p)["dt"] + "/" + dict(p)["hr"]: len(c) for p, c in buf.items()}
    assert parts == {"2026-11-26/14": 6, "2020-01-01/00": 1, "2026-11-26/15": 1}


@given(
    st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 31, 23, 59, 59),
        timezones=st.just(UTC),
    )
)
def test_every_partition_is_inside_the_projected_range(time: datetime) -> None:
    arrival = datetime(2026, 11, 26, 14, 30, tzinfo=UTC)
    buf = ShardBuffer(SinkConfig())
    e = _event(1, time=time, arrival=arrival)
    buf.append(e, buf.arrival_ms(e))
    ((part, _),) = list(buf.items())
    dt, hr = dict(part)["dt"], dict(part)["hr"]
    assert "2020-01-01" <= dt <= "2026-11-26"
    assert len(dt) == 10 and len(hr) == 2


def test_timestamps_before_year_1000_are_written_with_four_digit_years() -> None:
    # Athena's JSON SerDe and DuckDB read "YYYY-MM-DD HH:MM:SS.mmm"; glibc's %Y does not pad.
    buf = ShardBuffer(SinkConfig(format="jsonl"))
    e = _event(1, time=datetime(999, 5, 1, 12, 0, 0, 250000, tzinfo=UTC))
    buf.append(e, buf.arrival_ms(e))
    ((_, cols),) = list(buf.items())
    blob = formats.encode(cols.as_dict("s", "shardId-0"), SinkConfig(format="jsonl"))
    (line,) = [orjson.loads(raw) for raw in gzip.decompress(blob).splitlines()]
    assert line["time"] == "0999-05-01 12:00:00.250"


def test_jsonl_from_rows_is_the_jsonl_from_columns() -> None:
    # The writer encodes JSON Lines straight from the buffer's rows; same bytes, same keys.
    config = SinkConfig(format="jsonl")
    buf = ShardBuffer(config)
    for i in range(5):
        e = _event(i, time=T0 + timedelta(milliseconds=i) if i % 2 else None)
        e.envelope["subject"] = "ext" if i == 0 else None
        if i:
            del e.envelope["subject"]
        buf.append(e, buf.arrival_ms(e))
    for _, cols in buf.items():
        rows = formats.encode_partition(cols, stream="s", shard_id="shardId-0", config=config)
        columns = formats.encode(cols.as_dict("s", "shardId-0"), config)
        assert rows == columns
        first = orjson.loads(gzip.decompress(rows).splitlines()[0])
        assert list(first) == list(config.schema.column_names)
