"""The Iceberg output against the emulator's S3 (a SQLite SQL catalog, the warehouse in S3):
the replay, crash and zombie cases the Hive layout holds (test_sink.py,
test_sink_fencing.py), each event exactly once in ``table.scan()``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyiceberg")

from consumers import Event, S3Sink, SinkConfig, SinkError, decode
from consumers.sink.iceberg import IcebergConfig, IcebergSink
from consumers.sink.iceberg.commit import TableCommitter

from .conftest import SHARD, list_keys, make_records


def _events(records: list[Any]) -> list[Event]:
    out = []
    for rec in records:
        for item in decode(rec):
            assert isinstance(item, Event)
            out.append(item)
    return out


EVENTS = _events(make_records("orders", 200, per_aggregate=1))


@pytest.fixture
def make_sink(bucket: str, tmp_path: Path) -> Callable[..., IcebergSink]:
    iceberg = IcebergConfig(uri=f"sqlite:///{tmp_path}/catalog.db", table="analytics.orders")

    def make(**config: Any) -> IcebergSink:
        settings = {"format": "iceberg", "max_records": 1_000_000, "max_span_seconds": 3600}
        return IcebergSink(
            bucket, stream="orders", config=SinkConfig(**(settings | config)), iceberg=iceberg
        )

    return make


def _ids(sink: IcebergSink) -> Counter[str]:
    return Counter(sink.table().scan().to_arrow().column("id").to_pylist())


def _once(events: list[Event]) -> Counter[str]:
    return Counter(e.id for e in events)


def _feed(writer: Any, events: list[Event]) -> None:
    for e in events:
        writer.add(e)


def _data_files(s3: Any, bucket: str) -> set[str]:
    return {k for k in list_keys(s3, bucket) if "/data/" in k and k.endswith(".parquet")}


def _referenced(sink: IcebergSink) -> set[str]:
    table = sink.table()
    return {t.file.file_path.split("/", 3)[3] for t in table.scan().plan_files()}


def test_each_flush_is_one_append_recording_its_range(
    make_sink: Callable[..., IcebergSink],
) -> None:
    sink = make_sink(max_records=40)
    writer = sink.shard(SHARD)
    _feed(writer, EVENTS[:100])
    writer.flush()
    snapshots = sink.table().snapshots()
    assert len(snapshots) == 3  # 40 + 40 + 20
    summary = snapshots[0].summary
    assert summary is not None
    assert summary["shardflow.stream"] == "orders"
    assert summary["shardflow.shard"] == SHARD
    assert summary["shardflow.first"] == str(EVENTS[0].origin.position)
    assert summary["shardflow.last"] == str(EVENTS[39].origin.position)
    assert writer.checkpointable == EVENTS[99].origin.position
    assert _ids(sink) == _once(EVENTS[:100])
    # dt/hr partitions as the Hive layout names them (10:58 to 11:01 here)
    partitions = {tuple(o.partition) for f in writer.flushes for o in f.objects}
    assert (("dt", "2026-11-26"), ("hr", "10")) in partitions


def test_s3sink_with_format_iceberg_writes_the_table(
    s3: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHARDFLOW_ICEBERG_CATALOG_URI", f"sqlite:///{tmp_path}/env.db")
    sink = S3Sink(bucket, stream="orders", s3_client=s3, config=SinkConfig(format="iceberg"))
    sink.write_batch(SHARD, EVENTS[:10])
    table = IcebergSink(bucket, stream="orders", iceberg=IcebergConfig.from_env()).table()
    assert sorted(table.scan().to_arrow().column("id").to_pylist()) == sorted(
        e.id for e in EVENTS[:10]
    )


def test_replay_after_crash_before_checkpoint_gives_no_duplicate_and_no_gap(
    make_sink: Callable[..., IcebergSink],
) -> None:
    sink = make_sink(max_records=40)
    writer = sink.shard(SHARD)
    _feed(writer, EVENTS[:70])
    checkpoint = writer.checkpointable
    assert checkpoint == EVENTS[39].origin.position
    _feed(writer, EVENTS[70:190])
    assert writer.buffered > 0  # lost in the crash
    replay = sink.shard(SHARD, resume_from=checkpoint)
    _feed(replay, EVENTS)
    replay.flush()
    assert replay.checkpointable == EVENTS[-1].origin.position
    assert _ids(sink) == _once(EVENTS)


def test_replay_with_changed_buffer_settings_writes_nothing_twice(
    make_sink: Callable[..., IcebergSink],
) -> None:
    writer = make_sink(max_records=25).shard(SHARD)
    _feed(writer, EVENTS[:90])
    writer.flush()  # then the checkpoint is lost
    sink = make_sink(max_records=7)
    replay = sink.shard(SHARD)
    _feed(replay, EVENTS[:90])
    assert replay.flush() is None
    assert replay.checkpointable == EVENTS[89].origin.position
    assert _ids(sink) == _once(EVENTS[:90])


def test_lambda_retries_and_bisected_batches_do_not_duplicate(
    make_sink: Callable[..., IcebergSink],
) -> None:
    sink = make_sink()
    events = EVENTS[:60]
    sink.write_batch(SHARD, events[:30])
    sink.write_batch(SHARD, events[:30])
    sink.write_batch(SHARD, events[30:])
    sink.write_batch(SHARD, events[10:40])
    assert _ids(sink) == _once(events)


def test_crash_after_writing_data_files_before_the_commit(
    make_sink: Callable[..., IcebergSink], s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = make_sink()
    writer = sink.shard(SHARD)
    _feed(writer, EVENTS[:50])

    def crash(*_: Any, **__: Any) -> None:
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(TableCommitter, "_append", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        writer.flush()
    monkeypatch.undo()
    assert writer.checkpointable is None
    assert _data_files(s3, bucket)  # written, never committed: orphans, not visible
    assert _ids(sink) == Counter()

    replay = make_sink(max_records=20).shard(SHARD)
    _feed(replay, EVENTS[:50])
    replay.flush()
    assert _ids(sink) == _once(EVENTS[:50])


def test_commit_landed_but_its_answer_was_lost(
    make_sink: Callable[..., IcebergSink], monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = make_sink()
    writer = sink.shard(SHARD)
    _feed(writer, EVENTS[:50])
    real = TableCommitter._append

    def lose_answer(self: TableCommitter, *args: Any) -> Any:
        real(self, *args)
        raise SinkError("timeout after the commit landed")

    monkeypatch.setattr(TableCommitter, "_append", lose_answer)
    with pytest.raises(SinkError):
        writer.flush()
    monkeypatch.undo()
    assert writer.checkpointable is None
    result = writer.flush()  # the retry recognises its own commit
    assert result is not None and result.records == 50
    assert writer.checkpointable == EVENTS[49].origin.position
    assert len(sink.table().snapshots()) == 1
    assert _ids(sink) == _once(EVENTS[:50])


def test_owner_flushes_first_then_the_zombie_commits_nothing(
    make_sink: Callable[..., IcebergSink], s3: Any, bucket: str
) -> None:
    zombie = make_sink().shard(SHARD)
    _feed(zombie, EVENTS[:100])
    sink = make_sink()
    owner = sink.shard(SHARD)
    _feed(owner, EVENTS[:150])
    owner.flush()
    result = zombie.flush()
    assert result is not None and result.records == 0 and not result.objects
    assert _ids(sink) == _once(EVENTS[:150])
    assert _data_files(s3, bucket) == _referenced(sink)  # the zombie's files deleted


def test_zombie_committing_after_the_owner_started_the_owner_continues_after_it(
    make_sink: Callable[..., IcebergSink], s3: Any, bucket: str
) -> None:
    zombie = make_sink().shard(SHARD)
    _feed(zombie, EVENTS[:100])
    sink = make_sink()
    owner = sink.shard(SHARD)
    _feed(owner, EVENTS[:1])  # the owner read the table's ranges: none yet
    zombie.flush()
    _feed(owner, EVENTS[1:150])
    result = owner.flush()
    assert result is not None and result.records == 50  # 101..150 only
    assert owner.checkpointable == EVENTS[149].origin.position
    assert _ids(sink) == _once(EVENTS[:150])
    assert _data_files(s3, bucket) == _referenced(sink)


def test_owner_from_an_older_checkpoint_continues_after_the_zombies_flush(
    make_sink: Callable[..., IcebergSink],
) -> None:
    zombie = make_sink().shard(SHARD)
    _feed(zombie, EVENTS[:50])
    zombie.flush()
    _feed(zombie, EVENTS[50:120])
    sink = make_sink()
    owner = sink.shard(SHARD)
    _feed(owner, EVENTS[:200])
    result = owner.flush()
    assert result is not None and result.first == EVENTS[50].origin.position
    late = zombie.flush()
    assert late is not None and late.records == 0
    assert zombie.checkpointable == EVENTS[119].origin.position  # durable, by the owner
    assert _ids(sink) == _once(EVENTS[:200])


def test_a_commit_between_the_check_and_the_append_is_checked_again(
    make_sink: Callable[..., IcebergSink], monkeypatch: pytest.MonkeyPatch, s3: Any, bucket: str
) -> None:
    """The other writer commits 41..120 after this writer checked and wrote its files: the
    append is refused (pyiceberg's own retry, which would skip the check, is off even
    though the table asks for 4 retries), the writer checks again and commits the rest."""
    sink = make_sink()
    writer = sink.shard(SHARD)
    _feed(writer, EVENTS[:100])
    with sink.table().transaction() as tx:
        tx.set_properties({"commit.retry.num-retries": "4"})
    other = make_sink().shard(SHARD, resume_from=EVENTS[39].origin.position)
    real = TableCommitter._append
    calls: list[TableCommitter] = []

    def race(self: TableCommitter, *args: Any) -> Any:
        calls.append(self)
        if len(calls) == 1:
            _feed(other, EVENTS[:120])
            other.flush()
        return real(self, *args)

    monkeypatch.setattr(TableCommitter, "_append", race)
    result = writer.flush()
    assert len([c for c in calls if c is not other._committer]) == 2  # refused, then again
    assert result is not None and result.records == 40  # 1..40
    assert result.last == EVENTS[99].origin.position
    assert _ids(sink) == _once(EVENTS[:120])
    # the files written for 1..100 before the refused append were replaced by files of 1..40
    assert _data_files(s3, bucket) == _referenced(sink)
    summary = sink.table().current_snapshot().summary  # type: ignore[union-attr]
    assert summary is not None and summary["shardflow.ranges"] == (
        f"{EVENTS[0].origin.position}..{EVENTS[39].origin.position}"
    )


def test_glue_catalog_on_the_emulator(bucket: str) -> None:
    iceberg = IcebergConfig(catalog="glue", table=f"{bucket.replace('-', '_')}.orders")
    config = SinkConfig(format="iceberg", max_records=30)
    zombie = IcebergSink(bucket, stream="orders", config=config, iceberg=iceberg).shard(SHARD)
    _feed(zombie, EVENTS[:20])
    sink = IcebergSink(bucket, stream="orders", config=config, iceberg=iceberg)
    owner = sink.shard(SHARD)
    _feed(owner, EVENTS[:100])
    owner.flush()
    result = zombie.flush()
    assert result is not None and result.records == 0
    assert _ids(sink) == _once(EVENTS[:100])
