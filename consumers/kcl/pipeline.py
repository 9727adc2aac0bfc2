"""One shard's work between the protocol and S3: decode, user handler, sink, dead letters.

Every user record of every delivered Kinesis record ends in exactly one place, in stream
order: the shard writer's buffer (``add``) or the dead-letter queue (then ``skip``, so the
writer can checkpoint past it). That is what makes ``checkpointable`` safe: a position the
writer has not seen can never be passed.

A failed flush (the sink keeps its buffer and cleans up a half-written flush) and a failed
dead-letter send are retried here a few times on top of botocore's own retries; a write
that fails inside ``add`` is not (whether the event was buffered is unknowable). When
either persists, :class:`PipelineError` tells the processor to stop so the daemon replays
from the last checkpoint instead of skipping records.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from consumers import (
    DeadLetterError,
    Event,
    KinesisRecord,
    Origin,
    PoisonRecord,
    Position,
    decode,
    decode_user_record,
)
from consumers.errors import SinkError
from consumers.kcl.errors import KclError
from consumers.kcl.handler import Handler
from shardflow import envelope

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


class DeadLetters(Protocol):
    """What the pipeline needs from :class:`consumers.DeadLetterQueue`."""

    def send(self, poison: PoisonRecord) -> Any:
        """Store the poison record durably or raise ``DeadLetterError``."""


class PipelineError(KclError):
    """S3 or the dead-letter queue kept failing: stop without checkpointing further."""


def _replacement(event: Event, result: object) -> Event | str:
    """The event a handler's mapping stands for, or why it cannot be written.

    It is written as an envelope, so it must be one, checked as a record's payload is
    (JSON, the required attributes, a readable ``time``): an invalid one raised later, in
    the sink, would escape the pipeline instead of dead-lettering this event.
    """
    if not isinstance(result, Mapping):
        return f"handler returned {type(result).__name__}, expected a mapping or None"
    try:
        data = envelope.encode(result)
    except TypeError as exc:
        return f"handler returned a mapping JSON cannot hold: {exc}"
    replaced = decode_user_record(data, event.origin)
    if isinstance(replaced, PoisonRecord):
        return f"handler returned an invalid envelope: {replaced.error}"
    return replaced


class ShardPipeline:
    """Decode, hand to the user handler, buffer in the shard writer, dead-letter poison."""

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
    ) -> None:
        self._writer = writer
        self._shard_id = shard_id
        self._dlq = dead_letters
        self._handler = handler
        self._attempts = io_attempts
        self._backoff = backoff
        self._sleep = sleep
        self.events = 0
        self.dead_lettered = 0

    @property
    def checkpointable(self) -> Position | None:
        """The writer's checkpointable position."""
        return self._writer.checkpointable

    def process(self, records: Iterable[KinesisRecord]) -> None:
        """Handle every user record of ``records``, in order."""
        for record in records:
            for item in decode(record):
                if isinstance(item, PoisonRecord):
                    self._dead_letter(item)
                    continue
                event = self._apply_handler(item)
                if event is None:
                    continue
                try:
                    self._writer.add(event)
                except SinkError as exc:
                    # Whether the event made it into the buffer before the write failed is
                    # not knowable from here; replaying from the checkpoint is always right.
                    raise PipelineError(f"shard {self._shard_id}: S3 write failed: {exc}") from exc
                self.events += 1

    def flush(self) -> None:
        """Write everything buffered (retried; :class:`PipelineError` if S3 keeps failing)."""
        self._with_retries("S3 flush", self._writer.flush)

    def flush_if_idle(self) -> None:
        """Flush a buffer whose oldest event arrived ``max_span_seconds`` ago or more, so a
        quiet shard's events still reach S3 (the sink's manifests make it replay-safe)."""
        self._with_retries("S3 flush", self._writer.flush_if_idle)

    def _apply_handler(self, event: Event) -> Event | None:
        """The event to write (None: dead-lettered): the handler's result, or the event."""
        if self._handler is None:
            return event
        try:
            result = self._handler(event)
        except Exception as exc:
            why: str | Exception = exc
        else:
            if result is None:
                return event
            replaced = _replacement(event, result)
            if isinstance(replaced, Event):
                return replaced
            why = replaced
        logger.warning(
            "shard %s: handler failed on %s (%s): dead-lettering",
            self._shard_id,
            event.origin.position,
            why,
        )
        self._dead_letter(PoisonRecord.handler_failed(event, why))
        return None

    def _dead_letter(self, poison: PoisonRecord) -> None:
        if self._dlq is None:
            raise PipelineError(
                f"shard {self._shard_id}: {poison.reason} record at "
                f"{poison.origin.position} ({poison.error}) and no dead-letter queue "
                "configured (SHARDFLOW_DLQ_URL): stopping rather than losing it"
            )
        dlq = self._dlq
        self._with_retries("dead-letter send", lambda: dlq.send(poison))
        self._writer.skip(poison.origin)
        self.dead_lettered += 1

    def _with_retries(self, what: str, action: Callable[[], Any]) -> None:
        delay = self._backoff
        for attempt in range(1, self._attempts + 1):
            try:
                action()
            except (SinkError, DeadLetterError) as exc:
                if attempt == self._attempts:
                    raise PipelineError(
                        f"shard {self._shard_id}: {what} failed {attempt} times: {exc}"
                    ) from exc
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
