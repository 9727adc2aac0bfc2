"""Issue 15.10: processor lines re-logged by the daemon at ERROR are shown once, as written;
--print-properties says what else running the daemon by hand needs."""

from __future__ import annotations

import io

import pytest

from consumers.kcl.daemon_log import Deduplicator, forward, unwrap
from shardflow_tools.cli import main

_CHILD = "2026-12-04 10:00:00,000 INFO [pid 7] consumers.kcl.processor: shard s-1: flushed 3"
_RELOGGED = (
    "2026-12-04 10:00:00,001 [multi-lang-daemon-0001] ERROR s.a.k.m.DrainChildSTDERRTask "
    f"[shardId-000000000001] - Received error line from subprocess [{_CHILD}] for shard "
    "shardId-000000000001 \n"
)


def test_a_relogged_line_is_the_processor_line_at_its_own_level() -> None:
    assert unwrap(_RELOGGED) == _CHILD + "\n"


def test_other_daemon_lines_pass_unchanged() -> None:
    line = "2026-12-04 10:00:00,001 [main] INFO s.a.k.c.Scheduler [NONE] - Initializing \n"
    assert unwrap(line) == line


def test_each_processor_line_is_written_once_whichever_copy_comes_first() -> None:
    once = Deduplicator()
    raw = _CHILD + "\n"
    assert once.accept(raw) == raw
    assert once.accept(_RELOGGED) is None
    assert once.accept(_RELOGGED) == raw
    assert once.accept(raw) is None
    # Java lines that repeat (stack frames) are not processor copies: all pass.
    frame = "\tat java.base/java.net.Socket.connect(Socket.java:633)\n"
    assert [once.accept(frame), once.accept(frame)] == [frame, frame]


def test_the_daemon_stderr_is_forwarded_through_the_filter() -> None:
    out = io.StringIO()
    daemon = io.BytesIO(("java line\n" + _CHILD + "\n" + _RELOGGED).encode())
    forward(daemon, out).join()
    assert out.getvalue() == f"java line\n{_CHILD}\n"
    assert "Received error line" not in out.getvalue()


def test_print_properties_prints_the_variables_and_the_java_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["consume", "kcl", "--print-properties", "--endpoint-url", "http://127.0.0.1:9"]
    assert main([*argv, "--stream", "s1", "--dlq-url", "http://q"]) == 0
    out = capsys.readouterr().out
    assert "streamName = s1" in out
    assert "#   export SHARDFLOW_STREAM=s1" in out
    assert "#   export SHARDFLOW_DLQ_URL=http://q" in out
    assert "#   export CBOR_ENABLED=false" in out
    assert "-Daws.cborEnabled=false" in out
    assert "software.amazon.kinesis.multilang.MultiLangDaemon --properties-file" in out
