"""``python -m consumers.kcl`` driven through the multilang protocol by a scripted daemon.

No Java: the test plays the daemon's side of the pipes, answers checkpoints as scripted
and checks, at the moment each checkpoint is asked for, that everything up to that
position is already in S3 (or the dead-letter queue).
"""

from __future__ import annotations

import signal
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from readback import drain_queue, jsonl_keys, jsonl_rows

from consumers import Position
from consumers.kcl.testing import (
    CheckpointRequest,
    ProtocolError,
    ScriptedDaemon,
    answers,
    deaggregated,
    kcl_record,
)
from shardflow import envelope, kpl
from shardflow_tools.bootstrap import BootstrapReport, BucketSpec, QueueSpec

SHARD = "shardId-000000000001"


def _event(n: int) -> bytes:
    return envelope.encode(
        envelope.build({"type": "test.event", "data": {"n": n}}, default_source="test")
    )


@dataclass
class Env:
    """One test's stream, bucket and dead-letter queue, and the child's environment."""

    s3: Any
    sqs: Any
    bucket: str
    queue_url: str
    env: dict[str, str]

    def output(self) -> list[dict[str, Any]]:
        """Every event row in the bucket's output objects (duplicates kept)."""
        return jsonl_rows(self.s3, self.bucket)

    def keys(self) -> list[str]:
        return jsonl_keys(self.s3, self.bucket)

    def positions(self) -> list[Position]:
        """Positions written to S3, in stream order."""
        return sorted(
            Position(r["sequence_number"], r["sub_sequence_number"]) for r in self.output()
        )

    def dead_letters(self) -> list[dict[str, Any]]:
        return drain_queue(self.sqs, self.queue_url)


@pytest.fixture
def kcl_env(
    aws_client: Callable[[str], Any],
    unique_name: Callable[[str], str],
    provision: Callable[..., BootstrapReport],
    aws_endpoint: str,
) -> Iterator[Env]:
    s3, sqs = aws_client("s3"), aws_client("sqs")
    bucket, dlq = unique_name("bucket"), unique_name("dlq")
    queue_url = provision(BucketSpec(bucket), QueueSpec(dlq)).queue_urls[dlq]
    env = {
        "AWS_ENDPOINT_URL": aws_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "SHARDFLOW_STREAM": "orders",
        "SHARDFLOW_BUCKET": bucket,
        "SHARDFLOW_DLQ_URL": queue_url,
        "SHARDFLOW_OUTPUT_FORMAT": "jsonl",
        "SHARDFLOW_SINK_MAX_RECORDS": "4",
        "SHARDFLOW_LOG_LEVEL": "INFO",
    }
    yield Env(s3, sqs, bucket, queue_url, env)


def _durable_at_checkpoint(env: Env) -> Callable[[CheckpointRequest], str | None]:
    """Checkpoint answer that first asserts the position is covered by S3 output."""

    def answer(request: CheckpointRequest) -> str | None:
        if request.sequence_number is not None:
            asked = Position(request.sequence_number, request.sub_sequence_number)
            assert env.positions(), "checkpoint asked before anything reached S3"
            assert max(env.positions()) <= asked
        return None

    return answer


def _batch() -> list[dict[str, Any]]:
    """Plain records 100, 200; an aggregate of three at 300 (as the KCL de-aggregates it);
    plain records 400, 500."""
    aggregate = kpl.aggregate([(f"k{i}", _event(10 + i)) for i in range(3)])
    return [
        kcl_record(_event(1), "100"),
        kcl_record(_event(2), "200"),
        *deaggregated(aggregate, "300"),
        kcl_record(_event(3), "400"),
        kcl_record(_event(4), "500"),
    ]


def test_checkpoints_only_what_is_in_s3_with_sub_sequence_numbers(kcl_env: Env) -> None:
    with ScriptedDaemon(kcl_env.env) as daemon:
        daemon.initialize(SHARD)
        # Seven user records, four per file: one flush mid-aggregate at 300.1.
        asked = daemon.process_records(_batch(), _durable_at_checkpoint(kcl_env))
        assert [(c.sequence_number, c.sub_sequence_number) for c in asked] == [("300", 1)]
        asked = daemon.shutdown_requested(_durable_at_checkpoint(kcl_env))
        assert [(c.sequence_number, c.sub_sequence_number) for c in asked] == [("500", 0)]
        assert daemon.close() == 0
        assert daemon.noise == []
    positions = kcl_env.positions()
    assert [str(p) for p in positions] == [
        "100.0", "200.0", "300.0", "300.1", "300.2", "400.0", "500.0",
    ]  # fmt: skip


def test_throttled_checkpoint_is_retried_then_succeeds(kcl_env: Env) -> None:
    with ScriptedDaemon(kcl_env.env) as daemon:
        daemon.initialize(SHARD)
        asked = daemon.process_records(
            _batch(), answers("ThrottlingException", "ThrottlingException", None)
        )
        assert [(c.sequence_number, c.sub_sequence_number) for c in asked] == [("300", 1)] * 3


def test_checkpoint_throttled_every_time_is_deferred_to_the_next_batch(kcl_env: Env) -> None:
    kcl_env.env["SHARDFLOW_KCL_CHECKPOINT_ATTEMPTS"] = "2"
    with ScriptedDaemon(kcl_env.env) as daemon:
        daemon.initialize(SHARD)
        asked = daemon.process_records(_batch(), answers(*["ThrottlingException"] * 2))
        assert len(asked) == 2
        # Next batch: 300.2, 400, 500, 600 fill the next file; the checkpoint covers it and
        # the deferred one; 601-603 wait in the buffer.
        more = [kcl_record(_event(n), str(600 + n)) for n in range(4)]
        asked = daemon.process_records(more)
        assert [(c.sequence_number, c.sub_sequence_number) for c in asked] == [("600", 0)]


def test_shutdown_exception_stops_checkpointing(kcl_env: Env) -> None:
    with ScriptedDaemon(kcl_env.env) as daemon:
        daemon.initialize(SHARD)
        asked = daemon.process_records(_batch(), answers("ShutdownException"))
        assert len(asked) == 1  # not retried
        asked = daemon.process_records([kcl_record(_event(n), str(600 + n)) for n in range(8)])
        assert asked == []  # records ignored: the lease is gone
        assert daemon.shutdown_requested() == []
    assert [str(p) for p in kcl_env.positions()] == ["100.0", "200.0", "300.0", "300.1"]


def test_lease_lost_drops_the_buffer_without_checkpoint(kcl_env: Env) -> None:
    with ScriptedDaemon(kcl_env.env) as daemon:
        daemon.initialize(SHARD)
        assert daemon.process_records([kcl_record(_event(1), "100")]) == []
        assert daemon.lease_lost() == []
        assert daemon.close() == 0
    assert kcl_env.keys() == []


def test_shard_end_flushes_then_checkpoints_at_shard_end(kcl_env: Env) -> None:
    seen_in_s3: list[int] = []

    def answer(request: CheckpointRequest) -> str | None:
        seen_in_s3.append(len(kcl_env.positions()))
        return None

    with ScriptedDaemon(kcl_env.env) as daemon:
        daemon.initialize(SHARD)
        daemon.process_records([kcl_record(_event(n), str(100 + n)) for n in range(3)])
        asked = daemon.shard_ended(answer)
    assert [(c.sequence_number, c.sub_sequence_number) for c in asked] == [(None, None)]
    assert seen_in_s3 == [3]  # all three durable before the SHARD_END checkpoint


def test_poison_records_are_dead_lettered_and_checkpointed_past(kcl_env: Env) -> None:
    corrupt = bytearray(kpl.aggregate([("k", _event(9))]))
    corrupt[-1] ^= 0xFF  # digest mismatch: the KCL passes such a record through as is
    with ScriptedDaemon(kcl_env.env) as daemon:
        daemon.initialize(SHARD)
        daemon.process_records(
            [
                kcl_record(_event(1), "100"),
                kcl_record(b"not json", "200"),
                kcl_record(bytes(corrupt), "300"),
                kcl_record(_event(2), "400"),
            ]
        )
        asked = daemon.shutdown_requested()
    assert [(c.sequence_number, c.sub_sequence_number) for c in asked] == [("400", 0)]
    assert [str(p) for p in kcl_env.positions()] == ["100.0", "400.0"]
    reasons = sorted(d["reason"] for d in kcl_env.dead_letters())
    assert reasons == ["corrupt_aggregate", "invalid_envelope"]


def test_resume_after_checkpoint_writes_nothing_twice(kcl_env: Env) -> None:
    with ScriptedDaemon(kcl_env.env) as daemon:
        daemon.initialize(SHARD)
        daemon.process_records(_batch())  # checkpoint 300.1 accepted
    # A new worker resumes after 300.1; the KCL re-reads the aggregate and filters 300.0-1.
    with ScriptedDaemon(kcl_env.env) as daemon:
        daemon.initialize(SHARD, "300", 1)
        daemon.process_records(_batch()[4:])
        asked = daemon.shutdown_requested()
    assert [(c.sequence_number, c.sub_sequence_number) for c in asked] == [("500", 0)]
    positions = [str(p) for p in kcl_env.positions()]
    assert positions == ["100.0", "200.0", "300.0", "300.1", "300.2", "400.0", "500.0"]


def test_handler_transforms_prints_nothing_on_stdout_and_failures_dead_letter(
    kcl_env: Env, tmp_path: Path
) -> None:
    (tmp_path / "my_handler.py").write_text(
        textwrap.dedent(
            """
            def handle(event):
                print("a stray print must not reach the protocol")
                if event.envelope["data"]["n"] == 2:
                    raise ValueError("no twos")
                return {**event.envelope, "type": "handled"}
            """
        )
    )
    kcl_env.env["PYTHONPATH"] = str(tmp_path)
    kcl_env.env["SHARDFLOW_KCL_HANDLER"] = "my_handler:handle"
    with ScriptedDaemon(kcl_env.env) as daemon:
        daemon.initialize(SHARD)
        daemon.process_records([kcl_record(_event(n), str(100 + n)) for n in range(1, 4)])
        asked = daemon.shutdown_requested()
        assert daemon.noise == []
    assert [(c.sequence_number, c.sub_sequence_number) for c in asked] == [("103", 0)]
    rows = kcl_env.output()
    assert sorted(r["sequence_number"] for r in rows) == ["101", "103"]
    assert {r["type"] for r in rows} == {"handled"}
    assert [d["reason"] for d in kcl_env.dead_letters()] == ["handler_failed"]


def test_invalid_configuration_exits_before_the_first_message(kcl_env: Env) -> None:
    kcl_env.env["SHARDFLOW_KCL_CHECKPOINT_ATTEMPTS"] = "0"
    with ScriptedDaemon(kcl_env.env) as daemon, pytest.raises(ProtocolError, match="exit code 2"):
        daemon.initialize(SHARD)


def test_s3_failing_exits_without_checkpointing(kcl_env: Env) -> None:
    kcl_env.env["SHARDFLOW_BUCKET"] = "sf-no-such-bucket"
    with ScriptedDaemon(kcl_env.env) as daemon:
        daemon.initialize(SHARD)
        with pytest.raises(ProtocolError, match="exit code 3"):
            daemon.process_records(_batch())
        assert daemon.checkpoints == []


def test_dead_letter_queue_failing_exits_without_checkpointing_past_the_poison(
    kcl_env: Env,
) -> None:
    kcl_env.env["SHARDFLOW_DLQ_URL"] = kcl_env.queue_url + "-no-such-queue"
    kcl_env.env["SHARDFLOW_SINK_MAX_RECORDS"] = "1"
    with ScriptedDaemon(kcl_env.env) as daemon:
        daemon.initialize(SHARD)
        records = [
            kcl_record(_event(1), "100"),
            kcl_record(b"not json", "200"),
            kcl_record(_event(2), "300"),
        ]
        with pytest.raises(ProtocolError, match="exit code 3"):
            daemon.process_records(records)
        assert daemon.checkpoints == []  # 100 was written, but the batch never finished
    # Nothing after the poison record was written: a restart replays from the checkpoint.
    assert [str(p) for p in kcl_env.positions()] == ["100.0"]


# -- signals sent to the whole process group (Ctrl-C, systemd KillMode=control-group) -------


def _buffered(kcl_env: Env, daemon: ScriptedDaemon) -> None:
    """Three records processed and left in the buffer (the env's flush limits are high)."""
    daemon.initialize(SHARD)
    assert daemon.process_records([kcl_record(_event(n), str(100 + n)) for n in range(3)]) == []
    assert kcl_env.keys() == []


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: signal.Signals(s).name
)
def test_group_signal_leaves_the_shutdown_to_the_daemon(kcl_env: Env, signum: int) -> None:
    kcl_env.env["SHARDFLOW_SINK_MAX_RECORDS"] = "1000"
    with ScriptedDaemon(kcl_env.env) as daemon:
        _buffered(kcl_env, daemon)
        daemon.send_signal(signum)
        # The signal is handled before this exchange completes: a child that died of it
        # (KeyboardInterrupt, default SIGTERM) would never answer.
        assert daemon.process_records([]) == []
        asked = daemon.shutdown_requested(_durable_at_checkpoint(kcl_env))
        assert [(c.sequence_number, c.sub_sequence_number) for c in asked] == [("102", 0)]
        assert daemon.lease_lost() == []
        assert daemon.close() == 0
    assert [str(p) for p in kcl_env.positions()] == ["100.0", "101.0", "102.0"]


def test_group_signal_then_daemon_gone_exits_at_once(kcl_env: Env) -> None:
    kcl_env.env["SHARDFLOW_SINK_MAX_RECORDS"] = "1000"
    with ScriptedDaemon(kcl_env.env, timeout=20) as daemon:
        _buffered(kcl_env, daemon)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.process_records([]) == []
        assert daemon.close() == 0  # EOF: the daemon died; nothing checkpointed
    assert kcl_env.keys() == []


def test_group_signal_and_no_shutdown_from_the_daemon_exits_after_the_timeout(
    kcl_env: Env,
) -> None:
    kcl_env.env["SHARDFLOW_SINK_MAX_RECORDS"] = "1000"
    kcl_env.env["SHARDFLOW_KCL_SHUTDOWN_TIMEOUT_SECONDS"] = "1"
    with ScriptedDaemon(kcl_env.env, timeout=30) as daemon:
        _buffered(kcl_env, daemon)
        daemon.send_signal(signal.SIGINT)
        assert daemon.wait() == 128 + signal.SIGINT
        assert daemon.checkpoints == []
    assert kcl_env.keys() == []


# -- handler results, idle flush, unexpected errors ----------------------------------------


def test_handler_returning_an_invalid_envelope_dead_letters_that_event_only(
    kcl_env: Env, tmp_path: Path
) -> None:
    (tmp_path / "bad_handler.py").write_text(
        textwrap.dedent(
            """
            def handle(event):
                n = event.envelope["data"]["n"]
                if n == 1:
                    return {**event.envelope, "time": "yesterday"}
                if n == 2:
                    return {k: v for k, v in event.envelope.items() if k != "id"}
                if n == 3:
                    return {**event.envelope, "data": object()}
                return None
            """
        )
    )
    kcl_env.env["PYTHONPATH"] = str(tmp_path)
    kcl_env.env["SHARDFLOW_KCL_HANDLER"] = "bad_handler:handle"
    with ScriptedDaemon(kcl_env.env) as daemon:
        daemon.initialize(SHARD)
        daemon.process_records([kcl_record(_event(n), str(100 + n)) for n in range(1, 5)])
        asked = daemon.shutdown_requested()
        assert daemon.close() == 0
    assert [(c.sequence_number, c.sub_sequence_number) for c in asked] == [("104", 0)]
    assert [str(p) for p in kcl_env.positions()] == ["104.0"]
    letters = kcl_env.dead_letters()
    assert [d["reason"] for d in letters] == ["handler_failed"] * 3
    errors = " | ".join(str(d.get("error")) for d in letters)
    assert "time" in errors
    assert "'id'" in errors
    assert "JSON" in errors


def test_idle_buffer_is_flushed_on_an_empty_batch_once_caught_up(kcl_env: Env) -> None:
    kcl_env.env["SHARDFLOW_SINK_MAX_RECORDS"] = "1000"
    kcl_env.env["SHARDFLOW_SINK_MAX_SPAN_SECONDS"] = "60"
    old = datetime.now(UTC) - timedelta(minutes=5)
    with ScriptedDaemon(kcl_env.env) as daemon:
        daemon.initialize(SHARD)
        records = [kcl_record(_event(n), str(100 + n), arrival=old) for n in range(3)]
        # Behind the tip: more records wait, whose arrival times will close the buffer.
        assert daemon.process_records(records, millis_behind_latest=240_000) == []
        assert daemon.process_records([], millis_behind_latest=1_000) == []
        assert kcl_env.keys() == []
        # Caught up (callProcessRecordsEvenForEmptyRecordList): the idle buffer is written.
        asked = daemon.process_records([], millis_behind_latest=0)
        assert [(c.sequence_number, c.sub_sequence_number) for c in asked] == [("102", 0)]
        assert [str(p) for p in kcl_env.positions()] == ["100.0", "101.0", "102.0"]
