"""The record processor the MultiLangDaemon runs for each shard (amazon_kclpy v3).

Lifecycle, and what each step does with checkpoints:

* ``initialize``: opens the shard's writer at the checkpoint the daemon resumes from.
* ``process_records``: decode → handler → S3 writer / dead letters (the writer flushes at
  its size and arrival-span boundaries, and when its oldest event has waited
  ``max_span_seconds``); then checkpoint the writer's ``checkpointable`` position
  (everything at or before it is in S3 or dead-lettered), at most every
  ``checkpoint_interval`` seconds. The launcher sets ``callProcessRecordsEvenForEmptyRecordList``
  so a quiet shard is still called, and flushed, regularly.
* ``shutdown_requested`` (SIGTERM to the daemon): flush, then checkpoint.
* ``shard_ended`` (resharding): flush, then checkpoint at SHARD_END so the children start.
* ``lease_lost``: stop; no flush, no checkpoint (another worker owns the shard now).

amazon_kclpy catches every exception a processor raises and still acknowledges the
message, so nothing here relies on raising: each step decides itself. A swallowed
exception would be data loss (the rest of the batch skipped, a later checkpoint passing
it), so when S3 or the dead-letter queue keeps failing, or anything unexpected is raised,
the processor exits (``SystemExit``, which kclpy lets through). The MultiLangDaemon then
exits too (it ends the JVM when a child fails, after shutting the other shards'
processors down gracefully): restarted by its supervisor, it replays from the last
checkpoint, and the sink's manifests keep the replay from writing anything twice.

The idle flush (an event buffered ``max_span_seconds`` ago, by wall clock) runs only when
the daemon reports the shard caught up (``millisBehindLatest`` 0, or not reported): while
the processor is behind, more records are waiting, and their arrival times close the
buffer at a boundary a replay reproduces, instead of one per GetRecords batch.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, Final, NoReturn, TypeVar

from amazon_kclpy.v3 import processor as kclpy_processor

from consumers import KinesisRecord, Position, RecordShapeError
from consumers.kcl.checkpointing import Outcome, SupportsCheckpoint, checkpoint
from consumers.kcl.config import ProcessorConfig
from consumers.kcl.pipeline import (
    DeadLetters,
    PipelineError,
    ShardPipeline,
    ShardTakenOverError,
    Writer,
)

logger = logging.getLogger(__name__)

#: Exit code when S3 or the dead-letter queue keeps failing (the daemon replays on restart).
EXIT_IO_FAILURE: Final = 3
#: Exit code after an unexpected exception (a bug): kclpy would swallow it and go on.
EXIT_UNEXPECTED: Final = 4

WriterFactory = Callable[[str, Position | None], Writer]
_Step = TypeVar("_Step", bound=Callable[..., None])


def _restart_point(checkpointed: object) -> str:
    """Where the daemon resumes the shard: the checkpoint, or the initial position."""
    if checkpointed is None:
        return "its initial position (TRIM_HORIZON unless configured): nothing checkpointed yet"
    return f"checkpoint {checkpointed}"


def _exit_on_unexpected(step: _Step) -> _Step:
    """Turn an exception escaping a lifecycle step into an exit: kclpy would print it and
    acknowledge the message, and the next batch would carry on past unprocessed records."""

    @functools.wraps(step)
    def guarded(self: KclRecordProcessor, *args: Any) -> None:
        try:
            step(self, *args)
        except Exception:
            logger.exception(
                "shard %s: unexpected error in %s; exiting so the daemon restarts from %s",
                self._shard_id,
                step.__name__,
                _restart_point(self._checkpointed),
            )
            sys.exit(EXIT_UNEXPECTED)

    return guarded  # type: ignore[return-value]


def resume_position(
    sequence_number: str | None, sub_sequence_number: int | None
) -> Position | None:
    """The position the daemon resumes after, or None for a sentinel (TRIM_HORIZON, …)."""
    if sequence_number is None or not sequence_number.isdigit():
        return None
    return Position(sequence_number, sub_sequence_number)


def _caught_up(process_records_input: Any) -> bool:
    """True unless the daemon reports the shard behind its tip (more records are waiting)."""
    behind = getattr(process_records_input, "millis_behind_latest", None)
    return behind is None or behind <= 0


class KclRecordProcessor(kclpy_processor.RecordProcessorBase):  # type: ignore[misc]
    """One shard's processor. ``writer_factory(shard_id, resume_from)`` opens the S3 writer;
    ``dead_letters`` is the dead-letter queue (None: a poison record stops the processor).
    """

    def __init__(
        self,
        config: ProcessorConfig,
        *,
        writer_factory: WriterFactory,
        dead_letters: DeadLetters | None,
        handler: Callable[..., Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._config = config
        self._writer_factory = writer_factory
        self._dead_letters = dead_letters
        self._handler = handler
        self._clock = clock
        self._sleep = sleep
        self._shard_id = "?"
        self._pipeline: ShardPipeline | None = None
        self._stopped = False
        self._shutting_down = False
        self._checkpointed: Position | None = None
        self._last_checkpoint_at = clock()

    @property
    def config(self) -> ProcessorConfig:
        """The configuration this processor runs with."""
        return self._config

    # -- lifecycle ---------------------------------------------------------------------

    @_exit_on_unexpected
    def initialize(self, initialize_input: Any) -> None:
        """Open the writer at the resume position."""
        self._shard_id = initialize_input.shard_id
        resume = resume_position(
            initialize_input.sequence_number, initialize_input.sub_sequence_number
        )
        self._checkpointed = resume
        logger.info(
            "shard %s: initialize, resuming after %s",
            self._shard_id,
            resume or initialize_input.sequence_number,
        )
        self._pipeline = ShardPipeline(
            self._writer_factory(self._shard_id, resume),
            shard_id=self._shard_id,
            dead_letters=self._dead_letters,
            handler=self._handler,
            io_attempts=self._config.io_attempts,
            sleep=self._sleep,
        )

    @_exit_on_unexpected
    def process_records(self, process_records_input: Any) -> None:
        """Decode and write the batch, then checkpoint what is durable."""
        if self._stopped:
            logger.info(
                "shard %s: lease lost earlier; ignoring %d records",
                self._shard_id,
                len(process_records_input.records),
            )
            return
        pipeline = self._require_pipeline()
        try:
            records = [
                KinesisRecord.from_kcl(rec, stream=self._config.stream, shard_id=self._shard_id)
                for rec in process_records_input.records
            ]
        except RecordShapeError as exc:
            # The daemon sent something that is not a record: skipping it could checkpoint
            # past data, so stop and let a restart replay.
            self._fail(exc)
        try:
            pipeline.process(records)
            if _caught_up(process_records_input):
                pipeline.flush_if_idle()
        except ShardTakenOverError as exc:
            self._taken_over(exc)
            return
        except PipelineError as exc:
            self._fail(exc)
        self._checkpoint(process_records_input.checkpointer, force=False)

    @_exit_on_unexpected
    def lease_lost(self, lease_lost_input: Any) -> None:  # noqa: ARG002 - kclpy's signature
        """Stop without flushing or checkpointing: another worker owns the shard now."""
        if self._shutting_down:
            logger.info("shard %s: lease released after shutdown", self._shard_id)
            self._stopped = True
            return
        logger.warning(
            "shard %s: lease lost; dropping what is buffered (its new owner replays it from "
            "the last checkpoint %s)",
            self._shard_id,
            self._checkpointed,
        )
        self._stopped = True

    @_exit_on_unexpected
    def shard_ended(self, shard_ended_input: Any) -> None:
        """Flush, then checkpoint at SHARD_END so the child shards can start."""
        if self._stopped or not self._flush_or_exit():
            return
        # No position: the KCL checkpoints SHARD_END (the daemon's checkpoint() at shard end).
        outcome = self._checkpoint_at(shard_ended_input.checkpointer, None)
        if outcome is Outcome.DONE:
            logger.info("shard %s: shard ended, checkpointed at SHARD_END", self._shard_id)
        elif outcome is Outcome.DEFERRED:
            logger.error(
                "shard %s: shard ended but the SHARD_END checkpoint was not written: the KCL "
                "drops the lease and a worker reads the shard again from checkpoint %s (the "
                "sink writes nothing twice); its children start after that",
                self._shard_id,
                self._checkpointed,
            )
        self._stopped = True

    @_exit_on_unexpected
    def shutdown_requested(self, shutdown_requested_input: Any) -> None:
        """Flush, then checkpoint: the worker is shutting down gracefully."""
        if self._stopped:
            return
        logger.info("shard %s: shutdown requested: flushing and checkpointing", self._shard_id)
        self._shutting_down = True
        if self._flush_or_exit():
            self._checkpoint(shutdown_requested_input.checkpointer, force=True)

    # -- internals -----------------------------------------------------------------------

    def _require_pipeline(self) -> ShardPipeline:
        if self._pipeline is None:
            raise RuntimeError("process_records before initialize")
        return self._pipeline

    def _flush_or_exit(self) -> bool:
        """Flush; False (stopped, nothing to checkpoint) when another worker took the shard
        over. Exits the process when S3 or the dead-letter queue keeps failing."""
        try:
            self._require_pipeline().flush()
        except ShardTakenOverError as exc:
            self._taken_over(exc)
            return False
        except PipelineError as exc:
            self._fail(exc)
        return True

    def _taken_over(self, exc: ShardTakenOverError) -> None:
        # The sink's fencing refused this worker's flush: a successor owns the shard (this
        # worker was paused past its lease). Act as on lease loss: stop, checkpoint nothing,
        # keep the process (and the daemon's other shards) running.
        logger.warning(
            "shard %s: another worker took the shard over (%s); stopping without "
            "checkpointing, as on a lost lease (last checkpoint %s)",
            self._shard_id,
            exc,
            self._checkpointed,
        )
        self._stopped = True

    def _fail(self, exc: Exception) -> NoReturn:
        # PipelineError messages already start with the shard.
        message = str(exc).removeprefix(f"shard {self._shard_id}: ")
        logger.error(
            "shard %s: %s; exiting so the daemon restarts from %s",
            self._shard_id,
            message,
            _restart_point(self._checkpointed),
        )
        sys.exit(EXIT_IO_FAILURE)

    def _checkpoint(self, checkpointer: SupportsCheckpoint, *, force: bool) -> None:
        position = self._require_pipeline().checkpointable
        if position is None or (self._checkpointed is not None and position <= self._checkpointed):
            return
        now = self._clock()
        if not force and now - self._last_checkpoint_at < self._config.checkpoint_interval:
            return
        outcome = self._checkpoint_at(checkpointer, position)
        if outcome is Outcome.DONE:
            self._checkpointed = position
            self._last_checkpoint_at = now
        elif outcome is Outcome.STOP:
            self._stopped = True

    def _checkpoint_at(
        self, checkpointer: SupportsCheckpoint, position: Position | None
    ) -> Outcome:
        return checkpoint(
            checkpointer,
            position,
            shard_id=self._shard_id,
            attempts=self._config.checkpoint_attempts,
            backoff=self._config.checkpoint_backoff,
            sleep=self._sleep,
        )
