"""The S3 sink against the emulator: output readable by DuckDB, exactly once under replay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from consumers import Event, PositionOrderError, S3Sink, SinkConfig, SinkError, decode, localquery
from shardflow_tools.bootstrap import BootstrapReport, BucketSpec

from .conftest import SHARD, list_keys, make_records, query

FORMATS = ["parquet", "jsonl"]


def _events(records: list[Any]) -> list[Event]:
    out = []
    for rec in records:
        for item in decode(rec):
            assert isinstance(item, Event)
            out.append(item)
    return out


def _feed(writer: Any, events: list[Event]) -> None:
    for e in events:
        writer.add(e)


def _counts(s3: Any, bucket: str) -> tuple[int, int, int]:
    ((rows, ids, max_dup),) = query(
        s3,
        bucket,
        "SELECT count(*), count(DISTINCT id), "
        "coalesce(max(c), 0) FROM (SELECT id, count(*) OVER (PARTITION BY id) AS c FROM events)",
    )
    return rows, ids, max_dup


@pytest.mark.parametrize("fmt", FORMATS)
def test_replay_after_crash_before_checkpoint_gives_no_duplicate_and_no_gap(
    s3: Any, bucket: str, fmt: str
) -> None:
    records = make_records("orders", 60)
    events = _events(records)
    config = SinkConfig(format=fmt, max_records=40)  # type: ignore[arg-type]
    sink = S3Sink(bucket, stream="orders", s3_client=s3, config=config)

    # First run: a checkpoint is taken a third of the way in, then the consumer goes on,
    # flushes more, and crashes with a buffer in memory before its next checkpoint.
    writer = sink.shard(SHARD)
    _feed(writer, events[:70])
    checkpoint = writer.checkpointable
    assert checkpoint == events[39].origin.position  # one flush of 40 events so far
    _feed(writer, events[70:190])
    assert writer.buffered > 0  # lost in the crash
    keys_after_crash = set(list_keys(s3, bucket))

    # Replay from the checkpoint, to the end, then shut down cleanly.
    replay = sink.shard(SHARD, resume_from=checkpoint)
    _feed(replay, events)  # the consumer re-reads from the checkpoint: earlier ones ignored
    replay.flush()
    assert replay.checkpointable == events[-1].origin.position

    keys = set(list_keys(s3, bucket))
    assert keys_after_crash <= keys  # the flushes of the first run were not rewritten elsewhere
    data_keys = [k for k in keys if "/_manifests/" not in k]
    assert all(k.endswith(config.extension) for k in data_keys)
    assert _counts(s3, bucket) == (len(events), len(events), 1)


@pytest.mark.parametrize("fmt", FORMATS)
def test_replay_with_changed_buffer_settings_writes_nothing_twice(
    s3: Any, bucket: str, fmt: str
) -> None:
    events = _events(make_records("orders", 30))
    first = S3Sink(
        bucket, stream="orders", s3_client=s3, config=SinkConfig(format=fmt, max_records=25)
    )  # type: ignore[arg-type]
    writer = first.shard(SHARD)
    _feed(writer, events)
    writer.flush()  # a shutdown flush, then the checkpoint is lost

    second = S3Sink(
        bucket, stream="orders", s3_client=s3, config=SinkConfig(format=fmt, max_records=7)
    )  # type: ignore[arg-type]
    replay = second.shard(SHARD)
    _feed(replay, events)
    assert replay.flush() is None
    assert replay.checkpointable == events[-1].origin.position
    assert _counts(s3, bucket) == (len(events), len(events), 1)


def test_lambda_retries_and_bisected_batches_do_not_duplicate(s3: Any, bucket: str) -> None:
    events = _events(make_records("orders", 20))
    sink = S3Sink(bucket, stream="orders", s3_client=s3)
    # Invocation 1 handled the first 30 events, then failed; its successful prefix is written.
    sink.write_batch(SHARD, events[:30])
    # The retry (bisected) covers overlapping halves of the original batch.
    half = len(events) // 2
    sink.write_batch(SHARD, events[:half])
    sink.write_batch(SHARD, events[half:])
    sink.write_batch(SHARD, events[10:40])
    assert _counts(s3, bucket) == (len(events), len(events), 1)


def test_crash_in_the_middle_of_a_flush_leaves_no_duplicate(s3: Any, bucket: str) -> None:
    events = _events(make_records("orders", 30))
    sink = S3Sink(bucket, stream="orders", s3_client=s3, config=SinkConfig(max_records=500))
    writer = sink.shard(SHARD)
    _feed(writer, events)

    puts: list[str] = []

    def fail_on_commit(params: dict[str, Any], **_: Any) -> None:
        puts.append(params["Key"])
        # The staged object, the commit (the head), then the process dies before the
        # manifest: the commit landed, so whoever comes next rolls it forward.
        if len(puts) == 3:
            raise RuntimeError("simulated crash")

    s3.meta.events.register("before-parameter-build.s3.PutObject", fail_on_commit)
    try:
        with pytest.raises(RuntimeError, match="simulated crash"):
            writer.flush()
    finally:
        s3.meta.events.unregister("before-parameter-build.s3.PutObject", fail_on_commit)
    assert writer.checkpointable is None
    assert len([k for k in list_keys(s3, bucket) if "/_manifests/" not in k]) == 1

    # The restarted consumer replays with a different boundary (a size flush at 50).
    restarted = S3Sink(bucket, stream="orders", s3_client=s3, config=SinkConfig(max_records=50))
    replay = restarted.shard(SHARD)
    _feed(replay, events)
    replay.flush()
    assert _counts(s3, bucket) == (len(events), len(events), 1)


def test_failed_put_keeps_the_buffer_and_the_checkpoint(
    s3: Any, bucket: str, provision: Callable[..., BootstrapReport]
) -> None:
    events = _events(make_records("orders", 6))
    sink = S3Sink(bucket, stream="orders", s3_client=s3)
    writer = sink.shard(SHARD)
    _feed(writer, events)
    # Nothing written yet but the shard's head (the writer took the shard over): S3 goes
    # away under the writer, and comes back as it was.
    (head_key,) = list_keys(s3, bucket)
    head = s3.get_object(Bucket=bucket, Key=head_key)["Body"].read()
    versions = s3.list_object_versions(Bucket=bucket)  # the bucket is versioned
    for item in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
    s3.delete_bucket(Bucket=bucket)
    with pytest.raises(SinkError) as err:
        writer.flush()
    assert err.value.error_code == "NoSuchBucket"
    assert err.value.shard_id == SHARD
    assert writer.checkpointable is None
    assert writer.buffered == len(events)
    provision(BucketSpec(bucket))
    s3.put_object(Bucket=bucket, Key=head_key, Body=head)
    result = writer.flush()  # the retry writes the same range
    assert result is not None and result.records == len(events)
    assert writer.checkpointable == events[-1].origin.position


def test_dead_lettered_positions_become_checkpointable(s3: Any, bucket: str) -> None:
    events = _events(make_records("orders", 6))
    writer = S3Sink(bucket, stream="orders", s3_client=s3).shard(SHARD)
    writer.skip(events[0].origin)
    assert writer.checkpointable == events[0].origin.position
    writer.add(events[1])
    writer.skip(events[2].origin)
    assert writer.checkpointable == events[0].origin.position  # events[1] is not durable yet
    result = writer.flush()
    assert result is not None and (result.records, result.skipped) == (1, 1)
    assert result.last == events[2].origin.position
    assert writer.checkpointable == events[2].origin.position


@pytest.mark.parametrize("fmt", FORMATS)
def test_partitions_and_column_types_read_back_with_duckdb(s3: Any, bucket: str, fmt: str) -> None:
    records = make_records("orders", 40)
    events = _events(records)
    sink = S3Sink(bucket, stream="orders", s3_client=s3, config=SinkConfig(format=fmt))  # type: ignore[arg-type]
    sink.write_batch(SHARD, events)
    keys = [k for k in list_keys(s3, bucket, "events/") if "/_manifests/" not in k]
    assert sorted({k.split("/")[1] + "/" + k.split("/")[2] for k in keys}) == [
        "dt=2026-11-26/hr=10",
        "dt=2026-11-26/hr=11",
    ]
    with localquery.connect_s3(s3, bucket, "events") as con:
        types = dict(
            localquery.run(con, "SELECT column_name, column_type FROM (DESCRIBE events)")[1]
        )
        per_hour = localquery.run(
            con, "SELECT dt, hr, count(*) FROM shardflow.events GROUP BY dt, hr ORDER BY hr"
        )[1]
        (row,) = localquery.run(
            con,
            "SELECT time, arrival_time, data, stream, shard_id, sequence_number, "
            "sub_sequence_number, partition_key FROM events WHERE id = ?".replace(
                "?", f"'{events[6].id}'"
            ),
        )[1]
    assert types["time"] == types["arrival_time"] == "TIMESTAMP"
    assert types["sub_sequence_number"] == "BIGINT"
    assert types["dt"] == "VARCHAR" and types["hr"] == "INTEGER"
    assert types["data"] == types["id"] == "VARCHAR"
    before_11 = sum(1 for e in events if e.time is not None and e.time.hour == 10)
    assert per_hour == [("2026-11-26", 10, before_11), ("2026-11-26", 11, len(events) - before_11)]
    e = events[6]
    assert e.time is not None
    assert row == (
        e.time.replace(tzinfo=None),
        e.origin.arrival_time.replace(tzinfo=None),
        '{"n":6}',
        "orders",
        SHARD,
        e.origin.sequence_number,
        e.origin.sub_sequence_number,
        e.origin.partition_key,
    )


def test_records_at_or_before_the_checkpoint_are_ignored_and_order_is_enforced(
    s3: Any, bucket: str
) -> None:
    events = _events(make_records("orders", 6))
    writer = S3Sink(bucket, stream="orders", s3_client=s3).shard(
        SHARD, resume_from=events[4].origin.position
    )
    assert writer.add(events[3]) == ()  # the KCL may hand back a whole aggregate
    assert writer.buffered == 0
    writer.add(events[7])
    assert writer.buffered == 1
    assert writer.add(events[7]) == ()  # the same record again (a retry): ignored
    assert writer.buffered == 1
    with pytest.raises(PositionOrderError) as err:
        writer.add(events[6])
    assert err.value.shard_id == SHARD
    assert writer.checkpointable == events[4].origin.position


def test_idle_flush_uses_the_wall_clock_against_the_first_arrival(s3: Any, bucket: str) -> None:
    events = _events(make_records("orders", 3))
    writer = S3Sink(
        bucket, stream="orders", s3_client=s3, config=SinkConfig(max_span_seconds=60)
    ).shard(SHARD)
    for e in events:
        writer.add(e)
    first_arrival = events[0].origin.arrival_time
    assert writer.flush_if_idle(first_arrival + timedelta(seconds=59)) is None
    result = writer.flush_if_idle(first_arrival + timedelta(seconds=60))
    assert result is not None and result.records == len(events)
    assert writer.flush_if_idle() is None  # nothing left


def test_arrival_time_span_splits_flushes_where_a_replay_splits_them(s3: Any, bucket: str) -> None:
    # Records arrive two seconds apart: a 20 s span closes a flush every 10 records, the same
    # way on every run.
    events = _events(make_records("orders", 25, per_aggregate=1))
    sink = S3Sink(bucket, stream="orders", s3_client=s3, config=SinkConfig(max_span_seconds=20))
    first = sink.shard(SHARD)
    ranges = [r for e in events for r in first.add(e)]
    assert [r.records for r in ranges] == [10, 10]
    replay = S3Sink(
        bucket, stream="orders", s3_client=s3, config=SinkConfig(max_span_seconds=20)
    ).shard(SHARD, resume_from=ranges[0].last)
    assert [r for e in events for r in replay.add(e)] == []  # the second range is durable
    assert replay.checkpointable == ranges[1].last


@pytest.mark.parametrize("boundary", ["size", "span"])
def test_retrying_add_after_a_failed_flush_loses_and_duplicates_nothing(
    s3: Any, bucket: str, boundary: str
) -> None:
    events = _events(make_records("orders", 40))
    config = SinkConfig(max_records=25) if boundary == "size" else SinkConfig(max_span_seconds=30)
    writer = S3Sink(bucket, stream="orders", s3_client=s3, config=config).shard(SHARD)
    failures = {"left": 1}

    def fail_once(params: dict[str, Any], **_: Any) -> None:
        if failures["left"] and ".staging/" in params["Key"]:  # an object of the flush
            failures["left"] -= 1
            raise EndpointConnectionError(endpoint_url="http://simulated-outage")

    s3.meta.events.register("before-parameter-build.s3.PutObject", fail_once)
    errors = 0
    try:
        for e in events:
            for _ in range(3):  # the consumer's retry loop around add
                try:
                    writer.add(e)
                    break
                except SinkError:
                    errors += 1
    finally:
        s3.meta.events.unregister("before-parameter-build.s3.PutObject", fail_once)
    writer.flush()
    assert errors == 1
    assert writer.checkpointable == events[-1].origin.position
    assert _counts(s3, bucket) == (len(events), len(events), 1)
