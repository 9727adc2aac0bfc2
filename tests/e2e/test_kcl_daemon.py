"""The real KCL 3.1.3 MultiLangDaemon, run by ``shardflow consume kcl``, end to end.

The emulator (moto over HTTP/2) runs on the host's loopback; the launcher runs the daemon
and its ``python -m consumers.kcl`` processors in a loopback-only network namespace (the
KCL probes 169.254.169.254; nothing may leave the machine), bridged to the emulator.

The first test: three runs of the daemon against one 2-shard stream.

1. fresh start: every event of batch 1 reaches S3 once; the lease table's checkpoints are
   each shard's last record. SIGTERM to the launcher (a container runtime's stop):
   graceful shutdown, exit code 0.
2. batch 2 produced while stopped; restart with the sink's idle flush out of reach, so the
   processors hold batch 2 in their buffers (a test handler notes what they received);
   SIGINT to the whole process group (Ctrl-C in a terminal): the processors leave the
   shutdown to the daemon, whose ``shutdownRequested`` makes them flush and checkpoint:
   batch 2 is in S3 once, the checkpoints are each shard's last record, exit code 0.
3. batch 3 with checkpoints held back (``SHARDFLOW_KCL_CHECKPOINT_INTERVAL_SECONDS``), so
   S3 is ahead of the lease table; SIGKILL the whole process group; restart: the replay
   writes nothing twice and the checkpoints catch up; SIGTERM to the whole process group
   (systemd's ``KillMode=control-group``): exit code 0.

The second test: a processor exits (as it does when S3 or the dead-letter queue keeps
failing), the daemon exits with 1 (its supervisor's cue to restart it), and the restart
replays every event once.

After the SIGKILL the test deletes the dead worker's ``Leader`` item from
``<app>-CoordinatorState``: KCL 3 otherwise waits for the lock to expire (120 s). Clearing
it fast-forwards that wait and keeps KCL 3's own lease assignment under test (the
alternative, ``clientVersionConfig = CLIENT_VERSION_CONFIG_COMPATIBLE_WITH_2X``, would
test the 2.x-compatible mode instead of the one production runs).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import kcl_seen_probe
import pytest
from kcl_harness import (
    CHECKPOINT_TIMEOUT,
    FIRST_START_TIMEOUT,
    RESTART_TIMEOUT,
    Daemon,
    Pipeline,
    all_once,
    checkpointed,
    handler_env,
)

from shardflow_tools.emulator_h2 import Http2EmulatorProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    with Http2EmulatorProcess() as emu:
        yield emu.endpoint_url


@pytest.fixture
def pipeline(emulator: str, unique_name: Callable[[str], str], tmp_path: Path) -> Pipeline:
    return Pipeline.create(emulator, unique_name, tmp_path, shards=2)


def test_kcl_daemon_end_to_end_with_restart_and_crash(pipeline: Pipeline) -> None:
    p = pipeline
    # -- run 1: fresh start ---------------------------------------------------------------
    p.produce(batch=1, count=150)
    assert len(p.last) == 2, "both shards get records"
    with Daemon(p, 1) as daemon:
        p.timings["first start: all in S3"] = daemon.wait_for(
            "batch 1 in S3", all_once(p), FIRST_START_TIMEOUT
        )
        p.timings["first start: checkpoints"] = daemon.wait_for(
            "batch 1 checkpoints", checkpointed(p), CHECKPOINT_TIMEOUT
        )
        code, p.timings["SIGTERM to exit"] = daemon.terminate()
    assert code == 0, daemon.tail()
    p.assert_each_event_once("first start")

    # -- run 2: produce while stopped, restart, Ctrl-C with events in the buffers --------
    p.produce(batch=2, count=150)
    batch_2 = set(p.ids[-150:])
    seen_dir = p.workdir / "seen"
    seen_dir.mkdir()

    def batch_2_received() -> tuple[bool, str]:
        missing = len(batch_2 - kcl_seen_probe.seen(seen_dir))
        return missing == 0, f"{missing} of {len(batch_2)} events not received yet"

    held = handler_env(
        "kcl_seen_probe:observe",
        SHARDFLOW_TEST_SEEN_DIR=str(seen_dir),
        SHARDFLOW_SINK_MAX_SPAN_SECONDS="3600",
    )
    with Daemon(p, 2, held) as daemon:
        p.timings["restart after SIGTERM: all received"] = daemon.wait_for(
            "batch 2 in the processors", batch_2_received, RESTART_TIMEOUT
        )
        assert not batch_2 & set(p.output_ids()), "batch 2 waits in the buffers"
        code, p.timings["Ctrl-C (group SIGINT) to exit"] = daemon.terminate(
            signal.SIGINT, group=True
        )
    assert code == 0, daemon.tail()
    p.assert_each_event_once(f"flushed on shutdown, restart:\n{daemon.tail()}")
    assert p.checkpoints() == p.last, f"final checkpoint on shutdown:\n{daemon.tail()}"
    checkpoints_before_crash = p.checkpoints()

    # -- run 3: S3 ahead of the checkpoints, SIGKILL, restart ---------------------------
    p.produce(batch=3, count=150)
    with Daemon(p, 3, {"SHARDFLOW_KCL_CHECKPOINT_INTERVAL_SECONDS": "3600"}) as daemon:
        daemon.wait_for("batch 3 in S3", all_once(p), RESTART_TIMEOUT)
        assert p.checkpoints() == checkpoints_before_crash, "written but not checkpointed"
        daemon.kill()
    keys_before_replay = p.data_keys()
    p.clear_leader_lock()
    with Daemon(p, 4) as daemon:
        p.timings["restart after SIGKILL: checkpoints"] = daemon.wait_for(
            "batch 3 checkpoints after the crash", checkpointed(p), RESTART_TIMEOUT
        )
        code, p.timings["group SIGTERM to exit"] = daemon.terminate(group=True)
    assert code == 0, daemon.tail()
    p.assert_each_event_once("the replay after SIGKILL")
    assert p.data_keys() == keys_before_replay, "the replay added no object"
    p.log_timings("kcl e2e")


def test_a_failing_processor_stops_the_daemon_and_a_restart_replays(pipeline: Pipeline) -> None:
    """A processor that exits (S3 or the dead-letter queue failing for good) ends the
    MultiLangDaemon, so ``shardflow consume kcl`` exits non-zero for its supervisor to
    restart it; the restart replays from the checkpoints: every event once in S3."""
    p = pipeline
    p.produce(batch=1, count=150)
    crash = handler_env(
        "kcl_crash_probe:crash_once", SHARDFLOW_TEST_CRASH_MARKER=str(p.workdir / "crashed")
    )
    with Daemon(p, 1, crash) as daemon:
        code = daemon.wait_exit("the daemon to exit after its processor did", FIRST_START_TIMEOUT)
    assert (p.workdir / "crashed").exists(), daemon.tail()
    assert code == 1, f"the daemon's exit status, for the supervisor:\n{daemon.tail()}"
    # The JVM exits through its shutdown hooks; clearing the Leader lock only saves the wait
    # if it was not released (as after SIGKILL).
    p.clear_leader_lock()
    with Daemon(p, 2) as daemon:
        p.timings["restart after a processor failure: checkpoints"] = daemon.wait_for(
            "every event checkpointed after the restart", checkpointed(p), RESTART_TIMEOUT
        )
        code, _ = daemon.terminate()
    assert code == 0, daemon.tail()
    p.assert_each_event_once("the replay after the failure")
    p.log_timings("kcl e2e")
