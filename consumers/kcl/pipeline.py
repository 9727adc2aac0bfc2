"""One shard's work between the protocol and S3: the consumer pipeline into the shard writer.

The records go through :class:`consumers.pipeline.EventPipeline` (decode, dead-letter
poison, the user's handler, failures dead-lettered at once: :class:`DeadLetterAtOnce`)
straight into the shard's :class:`~consumers.sink.ShardWriter`, which flushes at its
boundaries. Every user record ends in the writer's buffer or the dead-letter queue (then
``skip``), in stream order: that is what makes ``checkpointable`` safe.

A failed flush (the sink keeps its buffer and cleans up a half-written flush) and a failed
dead-letter send are retried here a few times on top of botocore's own retries; a write
that fails inside ``add`` is not (whether the event was buffered is unknowable). When
either persists, :class:`PipelineError` tells the processor to stop so the daemon replays
from the last checkpoint instead of skipping records. Without a dead-letter queue a poison
record or a failed event stops the processor too, rather than being lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from consumers import Event, KinesisRecord, Origin, PoisonRecord, Position
from consumers.data_schema import DataSchema
from consumers.errors import DeadLetterError, FencedError, SinkError
from consumers.failure_policy import DeadLetterAtOnce
from consumers.handler import handler_step
from consumers.kcl.errors import KclError
from consumers.kcl.handler import Handler
from consumers.pipeline import Counts, DeadLetters, EventPipeline

__all__ = ["DeadLetters", "PipelineError", "ShardPipeline", "ShardTakenOverError", "Writer"]

logger = logging.getLogger(__name__)

_MAX_BACKOFF = 10.0


class Writer(Protocol):
    """What the pipeline needs from :class:`consumers.sink.ShardWriter`."""

    def add(self, event: Event) -> Any:
        """Buffer an event; may write a file when a boundary is reached."""

    def skip(self, origin: Origin) -> Any:
        """Record that ``origin`` was consumed without output (dead-lettered)."""

    def flush(self) -> Any:
        """Write whatever is buffered."""

    def flush_if_idle(self) -> Any:
        """Flush when the oldest buffered event arrived too long ago (wall clock)."""

    @property
    def checkpointable(self) -> Position | None:
        """Highest position with everything at or before it durable."""


class PipelineError(KclError):
    """S3 or the dead-letter queue kept failing: stop without checkpointing further."""


class ShardTakenOverError(PipelineError):
    """The sink fenced this writer (:class:`~consumers.errors.FencedError`): another worker
    owns the shard now. Stop as on a lost lease: no checkpoint, no retry, no exit."""


class _NoDeadLetterQueue:
    """Stops the shard rather than losing a record no queue can hold."""

    def __init__(self, shard_id: str) -> None:
        self._shard_id = shard_id

    def send(self, poison: PoisonRecord) -> None:
        raise PipelineError(
            f"shard {self._shard_id}: {poison.reason} record at "
            f"{poison.origin.position} ({poison.error}) and no dead-letter queue "
            "configured (SHARDFLOW_DLQ_URL): stopping rather than losing it"
        )


class _RetriedDeadLetters:
    def __init__(self, queue: DeadLetters, pipeline: ShardPipeline) -> None:
        self._queue = queue
        self._pipeline = pipeline

    def send(self, poison: PoisonRecord) -> None:
        queue = self._queue
        self._pipeline._with_retries("dead-letter send", lambda: queue.send(poison))


class ShardPipeline:
    """The consumer pipeline of one shard, into its writer, with the KCL's retries."""

    def __init__(
        self,
        writer: Writer,
        *,
        shard_id: str,
        dead_letters: DeadLetters | None,
        handler: Handler | None = None,
        io_attempts: int = 4,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        data_schema: DataSchema | None = None,
    ) -> None:
        self._writer = writer
        self._shard_id = shard_id
        self._attempts = io_attempts
        self._backoff = backoff
        self._sleep = sleep
        self._counts = Counts()
        self._pipeline = EventPipeline(
            dead_letters=(
                _NoDeadLetterQueue(shard_id)
                if dead_letters is None
                else _RetriedDeadLetters(dead_letters, self)
            ),
            handler=None if handler is None else handler_step(handler),
            policy=DeadLetterAtOnce(logger),
            # The writer's declaration (a ShardWriter's config) unless one is given: what
            # it writes typed is what must be checked before it.
            data_schema=data_schema
            if data_schema is not None
            else getattr(writer, "data_schema", None),
        )

    @property
    def events(self) -> int:
        """Events given to the writer so far."""
        return self._counts.events

    @property
    def dead_lettered(self) -> int:
        """Records and events sent to the dead-letter queue so far."""
        return self._counts.dead_lettered

    @property
    def checkpointable(self) -> Position | None:
        """The writer's checkpointable position."""
        return self._writer.checkpointable

    def process(self, records: Iterable[KinesisRecord]) -> None:
        """Handle every user record of ``records``, in order."""
        pipeline, writer, counts = self._pipeline, self._writer, self._counts
        try:
            for record in records:
                pipeline.process(record, writer, counts)
        except SinkError as exc:
            # Whether the event made it into the buffer before the write failed is not
            # knowable from here; replaying from the checkpoint is always right.
            raise self._sink_failed("S3 write failed", exc) from exc

    def flush(self) -> None:
        """Write everything buffered (retried; :class:`PipelineError` if S3 keeps failing)."""
        self._with_retries("S3 flush", self._writer.flush)

    def flush_if_idle(self) -> None:
        """Flush a buffer whose oldest event arrived ``max_span_seconds`` ago or more, so a
        quiet shard's events still reach S3 (the sink's manifests make it replay-safe)."""
        self._with_retries("S3 flush", self._writer.flush_if_idle)

    def _sink_failed(self, what: str, exc: SinkError) -> PipelineError:
        # The one place the KCL runtime turns a writer's failure into a stop: the processor
        # exits without checkpointing and the daemon replays from the last checkpoint.
        if isinstance(exc, FencedError):
            return ShardTakenOverError(f"shard {self._shard_id}: {what}: {exc}")
        return PipelineError(f"shard {self._shard_id}: {what}: {exc}")

    def _with_retries(self, what: str, action: Callable[[], Any]) -> None:
        delay = self._backoff
        for attempt in range(1, self._attempts + 1):
            try:
                action()
            except FencedError as exc:
                raise self._sink_failed(what, exc) from exc  # final: retrying cannot help
            except (SinkError, DeadLetterError) as exc:
                if attempt == self._attempts:
                    message = f"{what} failed {attempt} times"
                    if isinstance(exc, SinkError):
                        raise self._sink_failed(message, exc) from exc
                    raise PipelineError(f"shard {self._shard_id}: {message}: {exc}") from exc
                logger.warning(
                    "shard %s: %s failed (attempt %d/%d): %s; retrying in %.1fs",
                    self._shard_id,
                    what,
                    attempt,
                    self._attempts,
                    exc,
                    delay,
                )
                self._sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)
                continue
            return
