"""Checkpoint through the multilang protocol and decide what each refusal means.

The daemon answers a checkpoint with the name of the KCL exception that refused it, which
amazon_kclpy raises as ``CheckpointError(name)``:

* ``ThrottlingException``, ``KinesisClientLibDependencyException``: DynamoDB was busy or
  unavailable; retried with exponential backoff, then left to the next batch (the records
  stay uncheckpointed, nothing is lost).
* ``ShutdownException``, ``InvalidStateException``: the lease is gone or the checkpointer
  is no longer valid; the processor must stop and never checkpoint again.
* anything else: logged; treated as "not checkpointed this time".
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from typing import Any, Final, Protocol

from consumers import Position

logger = logging.getLogger(__name__)

RETRYABLE: Final = frozenset({"ThrottlingException", "KinesisClientLibDependencyException"})
FATAL: Final = frozenset({"ShutdownException", "InvalidStateException"})
_MAX_BACKOFF: Final = 5.0


class SupportsCheckpoint(Protocol):
    """What amazon_kclpy's ``Checkpointer`` offers."""

    def checkpoint(
        self, sequence_number: str | None = None, sub_sequence_number: int | None = None
    ) -> Any:
        """Ask the daemon to checkpoint; raises ``CheckpointError`` when it refuses."""


class Outcome(enum.Enum):
    """What a checkpoint attempt ended with."""

    DONE = "done"
    #: Throttled (or another transient refusal) every time: try again later.
    DEFERRED = "deferred"
    #: The lease is gone: stop processing, never checkpoint again.
    STOP = "stop"


def _error_name(exc: Exception) -> str:
    value = getattr(exc, "value", None)
    return str(value) if value is not None else type(exc).__name__


def checkpoint(
    checkpointer: SupportsCheckpoint,
    position: Position | None,
    *,
    shard_id: str,
    attempts: int,
    backoff: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Checkpoint at ``position`` (None: at shard end / the last delivered record)."""
    seq = position.sequence_number if position is not None else None
    sub = position.sub_sequence_number if position is not None else None
    where = str(position) if position is not None else "SHARD_END"
    delay = backoff
    for attempt in range(1, attempts + 1):
        try:
            checkpointer.checkpoint(seq, sub)
        except Exception as exc:
            name = _error_name(exc)
            if name in FATAL:
                logger.warning(
                    "shard %s: checkpoint at %s refused with %s: lease lost, stopping "
                    "without checkpointing",
                    shard_id,
                    where,
                    name,
                )
                return Outcome.STOP
            if name in RETRYABLE and attempt < attempts:
                logger.info(
                    "shard %s: checkpoint at %s: %s (attempt %d/%d), retrying in %.2fs",
                    shard_id,
                    where,
                    name,
                    attempt,
                    attempts,
                    delay,
                )
                sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)
                continue
            logger.warning(
                "shard %s: checkpoint at %s not written (%s after %d attempts); the records "
                "stay uncheckpointed and the next checkpoint covers them",
                shard_id,
                where,
                name,
                attempt,
            )
            return Outcome.DEFERRED
        logger.info("shard %s: checkpointed at %s", shard_id, where)
        return Outcome.DONE
    return Outcome.DEFERRED  # pragma: no cover - the loop always returns
