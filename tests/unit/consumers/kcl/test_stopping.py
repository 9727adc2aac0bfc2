"""Issue 15.1: Ctrl-C does not wait the whole grace (a second one, or no processor left)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from consumers.kcl.processes import count_descendants
from consumers.kcl.stopping import DaemonStop


class _Proc:
    pid = 100

    def __init__(self) -> None:
        self.signals: list[int] = []

    def send_signal(self, sig: int) -> None:
        self.signals.append(sig)

    def kill(self) -> None:
        self.signals.append(signal.SIGKILL)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _stop(proc: _Proc, clock: _Clock, processors: list[int | None]) -> DaemonStop:
    return DaemonStop(
        proc,  # type: ignore[arg-type]
        deadline=50.0,
        linger=10.0,
        processor_marker="-m consumers.kcl",
        clock=clock,
        count=lambda _pid, _marker: processors[0],
    )


def test_the_first_signal_asks_gracefully_the_second_kills(
    capsys: pytest.CaptureFixture[str],
) -> None:
    proc, clock = _Proc(), _Clock()
    stop = _stop(proc, clock, [2])
    stop.request(signal.SIGINT)
    assert proc.signals == [signal.SIGTERM]
    assert "Ctrl-C again to stop now" in capsys.readouterr().err
    stop.request(signal.SIGINT)
    assert proc.signals == [signal.SIGTERM, signal.SIGKILL]


def test_no_processor_left_ends_the_wait_after_the_linger() -> None:
    proc, clock = _Proc(), _Clock()
    processors: list[int | None] = [1]
    stop = _stop(proc, clock, processors)
    stop.tick()  # no stop asked: nothing happens
    stop.request(signal.SIGTERM)
    clock.now = 5.0
    stop.tick()
    processors[0] = 0  # the last processor checkpointed and exited
    clock.now = 6.0
    stop.tick()
    clock.now = 15.0
    stop.tick()
    assert proc.signals == [signal.SIGTERM]
    clock.now = 16.5
    stop.tick()
    assert proc.signals == [signal.SIGTERM, signal.SIGKILL]
    assert stop.killed_when_idle


def test_working_processors_get_the_whole_deadline() -> None:
    proc, clock = _Proc(), _Clock()
    stop = _stop(proc, clock, [1])
    stop.request(signal.SIGTERM)
    clock.now = 49.0
    stop.tick()
    assert proc.signals == [signal.SIGTERM]
    clock.now = 51.0
    stop.tick()
    assert proc.signals == [signal.SIGTERM, signal.SIGKILL]
    assert not stop.killed_when_idle


def _fake_proc(root: Path, pid: int, parent: int, cmdline: str) -> None:
    entry = root / str(pid)
    entry.mkdir()
    (entry / "stat").write_text(f"{pid} (odd name) x) S {parent} 1 1 0")
    (entry / "cmdline").write_bytes(cmdline.replace(" ", "\0").encode())


def test_processors_are_counted_below_the_daemon_only(tmp_path: Path) -> None:
    (tmp_path / "self").mkdir()
    _fake_proc(tmp_path, 10, 1, "unshare -n sh -c java")
    _fake_proc(tmp_path, 11, 10, "java -cp x MultiLangDaemon")
    _fake_proc(tmp_path, 12, 11, "python -m consumers.kcl")
    _fake_proc(tmp_path, 13, 11, "python -m consumers.kcl")
    _fake_proc(tmp_path, 20, 1, "python -m consumers.kcl")  # another launcher's
    assert count_descendants(10, "-m consumers.kcl", proc=tmp_path) == 2
    assert count_descendants(12, "-m consumers.kcl", proc=tmp_path) == 0


def test_without_proc_the_count_is_unknown(tmp_path: Path) -> None:
    assert count_descendants(1, "x", proc=tmp_path) is None
