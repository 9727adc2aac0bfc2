"""What the processor does with each answer the daemon gives a checkpoint."""

from __future__ import annotations

import pytest
from amazon_kclpy.checkpoint_error import CheckpointError

from consumers import Position
from consumers.kcl.checkpointing import Outcome, checkpoint


class FakeCheckpointer:
    """Answers checkpoints with the scripted KCL error names (None = success)."""

    def __init__(self, *errors: str | None) -> None:
        self.errors = list(errors)
        self.calls: list[tuple[str | None, int | None]] = []

    def checkpoint(self, sequence_number: str | None = None, sub: int | None = None) -> None:
        self.calls.append((sequence_number, sub))
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise CheckpointError(error)


def _run(cp: FakeCheckpointer, position: Position | None, attempts: int = 4) -> Outcome:
    sleeps: list[float] = []
    outcome = checkpoint(
        cp, position, shard_id="shardId-0", attempts=attempts, backoff=0.1, sleep=sleeps.append
    )
    assert sleeps == [0.1 * 2**i for i in range(len(sleeps))]  # exponential backoff
    return outcome


def test_success_names_sequence_and_sub_sequence() -> None:
    cp = FakeCheckpointer(None)
    assert _run(cp, Position("42", 3)) is Outcome.DONE
    assert cp.calls == [("42", 3)]


def test_shard_end_checkpoint_sends_no_position() -> None:
    cp = FakeCheckpointer(None)
    assert _run(cp, None) is Outcome.DONE
    assert cp.calls == [(None, None)]


@pytest.mark.parametrize("error", ["ThrottlingException", "KinesisClientLibDependencyException"])
def test_transient_errors_are_retried(error: str) -> None:
    cp = FakeCheckpointer(error, error, None)
    assert _run(cp, Position("7", 0)) is Outcome.DONE
    assert cp.calls == [("7", 0)] * 3


def test_throttled_every_time_is_deferred_after_the_last_attempt() -> None:
    cp = FakeCheckpointer(*["ThrottlingException"] * 5)
    assert _run(cp, Position("7", 0), attempts=3) is Outcome.DEFERRED
    assert len(cp.calls) == 3


@pytest.mark.parametrize("error", ["ShutdownException", "InvalidStateException"])
def test_lease_errors_stop_at_once(error: str) -> None:
    cp = FakeCheckpointer(error, None)
    assert _run(cp, Position("7", 0)) is Outcome.STOP
    assert len(cp.calls) == 1


def test_unknown_error_is_deferred_not_retried() -> None:
    cp = FakeCheckpointer("IllegalArgumentException", None)
    assert _run(cp, Position("7", 0)) is Outcome.DEFERRED
    assert len(cp.calls) == 1
