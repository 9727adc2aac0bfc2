"""The consumers' exception tree.

Everything the ``consumers`` package raises derives from :class:`ConsumerError` (itself a
:class:`~shardflow.errors.ShardflowError`): the core's errors below, the KCL runtime's
(``consumers.kcl.KclError``), the Lambda runtime's (``consumers.lambda_handler.LambdaHandlerError``)
and the local event source mapping runner's (``shardflow_tools.lambda_esm.MappingError``).
Errors about one record or one shard carry that context as attributes (``stream``,
``shard_id``, ``sequence_number``, ``error_code``), named in the message in one format
(:class:`~shardflow.errors.ShardflowError`), so a consumer can log it and decide what to
checkpoint. Bad *data* never raises: :func:`consumers.decode` turns it into a
:class:`~consumers.PoisonRecord`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from shardflow.errors import ShardflowError

if TYPE_CHECKING:
    from consumers.records import Position


class ConsumerError(ShardflowError):
    """Base class of every error the ``consumers`` package raises.

    ``stream``, ``shard_id``, ``sequence_number`` and ``error_code`` (the AWS error code, when
    an AWS call failed) are set when known, and named in the message.
    """


class RecordShapeError(ConsumerError, ValueError):
    """A delivery is not shaped like a Kinesis record of the kind its constructor reads.

    Raised by the ``KinesisRecord.from_*`` constructors for a missing field or a malformed
    value in the *envelope of the delivery* (not its payload): a programming or wiring error,
    not a poison record.
    """


class DeadLetterError(ConsumerError):
    """A poison record could not be stored durably (SQS or S3 failed, no bucket for an
    oversize payload). The caller must not checkpoint past the record."""


class SinkError(ConsumerError):
    """The S3 sink could not write a flush (objects or manifest). The buffered records are
    kept; nothing past them becomes checkpointable until a later flush succeeds."""


class FencedError(SinkError):
    """Another writer took the shard over: this writer's flush of ``[first, last]`` was
    refused and nothing of it is visible. The writer is done (every later call raises this
    again); the caller must stop consuming the shard without checkpointing past
    :attr:`~consumers.sink.ShardWriter.checkpointable` (as on a lost lease)."""

    def __init__(
        self,
        message: str,
        *,
        stream: str,
        shard_id: str,
        first: Position,
        last: Position,
    ) -> None:
        super().__init__(
            f"{message}: flush {first}..{last} refused",
            stream=stream,
            shard_id=shard_id,
            sequence_number=first.sequence_number,
        )
        self.first = first
        self.last = last


class PositionOrderError(ConsumerError, ValueError):
    """A shard writer was given a record at or before a position it already consumed.

    Records of one shard must reach a :class:`~consumers.sink.ShardWriter` in stream order;
    a replay starts a new writer with ``resume_from``.
    """


class HandlerResultError(ConsumerError, TypeError):
    """The user's handler returned what cannot be written: neither None nor a mapping, a
    mapping JSON cannot hold, or an invalid envelope. A failure of the event, for its
    runtime's failure policy, like an exception raised by the handler."""


class EventProcessingError(ConsumerError):
    """The user's handler failed on an event that is to be retried (the retrying failure
    policy; the Lambda handler reports its record as failed).

    ``event_id`` names the event and ``attempt`` counts this failure (of ``max_attempts``).
    """

    def __init__(
        self,
        message: str,
        *,
        event_id: str,
        attempt: int,
        max_attempts: int,
        stream: str | None = None,
        shard_id: str | None = None,
        sequence_number: str | None = None,
    ) -> None:
        super().__init__(message, stream=stream, shard_id=shard_id, sequence_number=sequence_number)
        self.event_id = event_id
        self.attempt = attempt
        self.max_attempts = max_attempts

    def context(self) -> Iterator[tuple[str, object]]:
        """The base context, then the event and which attempt failed."""
        yield from super().context()
        yield "event", self.event_id
        yield "attempt", f"{self.attempt}/{self.max_attempts}"
