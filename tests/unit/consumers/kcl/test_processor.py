"""The processor's own decisions, driven in-process with amazon_kclpy's message objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from amazon_kclpy import messages

from consumers import Event, Origin, Position
from consumers.errors import FencedError
from consumers.kcl.config import ProcessorConfig
from consumers.kcl.processor import EXIT_UNEXPECTED, KclRecordProcessor
from consumers.kcl.testing import kcl_record
from shardflow import envelope

SHARD = "shardId-000000000000"


class _Checkpointer:
    def __init__(self) -> None:
        self.calls: list[tuple[str | None, int | None]] = []

    def checkpoint(self, sequence_number: str | None = None, sub: int | None = None) -> None:
        self.calls.append((sequence_number, sub))


class _Writer:
    """A shard writer that fails as told, and flushes when asked."""

    def __init__(self, fail_on_add: Exception | None = None) -> None:
        self.fail_on_add = fail_on_add
        self.buffered: list[Event] = []
        self.durable: Position | None = None
        self.idle_checks = 0

    def add(self, event: Event) -> Any:
        if self.fail_on_add is not None:
            raise self.fail_on_add
        self.buffered.append(event)
        return ()

    def skip(self, origin: Origin) -> Any:
        self.durable = origin.position
        return ()

    def flush(self) -> Any:
        if self.buffered:
            self.durable = self.buffered[-1].origin.position
            self.buffered.clear()

    def flush_if_idle(self) -> Any:
        self.idle_checks += 1
        self.flush()

    @property
    def checkpointable(self) -> Position | None:
        return self.durable


def _processor(writer: _Writer) -> KclRecordProcessor:
    processor = KclRecordProcessor(
        ProcessorConfig(stream="s"), writer_factory=lambda _s, _r: writer, dead_letters=None
    )
    init = {"action": "initialize", "shardId": SHARD, "sequenceNumber": "TRIM_HORIZON",
            "subSequenceNumber": 0}  # fmt: skip
    messages.InitializeInput(init).dispatch(_Checkpointer(), processor)
    return processor


def _process(processor: KclRecordProcessor, n: int, behind: int | None = 0) -> _Checkpointer:
    event = envelope.encode(envelope.build({"type": "t", "data": {}}, default_source="t"))
    records = [
        messages.Record(kcl_record(event, str(100 + i), arrival=datetime.now(UTC)))
        for i in range(n)
    ]
    cp = _Checkpointer()
    message = {"action": "processRecords", "millisBehindLatest": behind, "records": records}
    messages.ProcessRecordsInput(message).dispatch(cp, processor)
    return cp


def test_an_unexpected_error_exits_instead_of_being_swallowed_by_kclpy() -> None:
    # kclpy would print the exception, acknowledge the batch and deliver the next one: the
    # rest of this batch would be skipped and a later checkpoint would pass it.
    processor = _processor(_Writer(fail_on_add=KeyError("id")))
    with pytest.raises(SystemExit) as exit_info:
        _process(processor, 2)
    assert exit_info.value.code == EXIT_UNEXPECTED


def test_idle_flush_waits_until_the_daemon_reports_the_shard_caught_up() -> None:
    writer = _Writer()
    processor = _processor(writer)
    assert _process(processor, 3, behind=5_000).calls == []
    assert writer.idle_checks == 0
    assert _process(processor, 0, behind=None).calls == [("102", 0)]
    assert writer.idle_checks == 1


class _FencedWriter(_Writer):
    """A writer whose flushes the sink refuses: another writer took the shard over."""

    def flush(self) -> Any:
        if self.buffered:
            first, last = self.buffered[0].origin.position, self.buffered[-1].origin.position
            raise FencedError("another writer took the shard over", stream="s",
                              shard_id=SHARD, first=first, last=last)  # fmt: skip


def test_a_fenced_flush_stops_the_shard_like_a_lost_lease() -> None:
    # A worker paused past its lease wakes and flushes: the sink refuses it. The processor
    # must neither checkpoint nor exit (the daemon's other shards go on), and ignore the
    # records the daemon still delivers until it says the lease is gone.
    writer = _FencedWriter()
    processor = _processor(writer)
    assert _process(processor, 3, behind=5_000).calls == []
    assert _process(processor, 0, behind=None).calls == []  # the idle flush is refused
    assert writer.durable is None
    later = _process(processor, 2, behind=None)
    assert later.calls == []
    assert len(writer.buffered) == 3, "records after the refusal reached the writer"
    cp = _Checkpointer()
    messages.ShutdownRequestedInput({"action": "shutdownRequested"}).dispatch(cp, processor)
    assert cp.calls == []


def test_the_exit_message_names_the_shard_once_and_the_restart_point(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 15.2: "shard X: shard X: ... restarts from checkpoint None"."""
    processor = _processor(_Writer())
    poison = messages.Record(kcl_record(b"not json", "100", arrival=datetime.now(UTC)))
    message = {"action": "processRecords", "millisBehindLatest": 0, "records": [poison]}
    with pytest.raises(SystemExit):
        messages.ProcessRecordsInput(message).dispatch(_Checkpointer(), processor)
    (line,) = [r.getMessage() for r in caplog.records if "exiting so the daemon" in r.getMessage()]
    assert line.count(f"shard {SHARD}") == 1
    assert "None" not in line
    assert "restarts from its initial position (TRIM_HORIZON" in line
