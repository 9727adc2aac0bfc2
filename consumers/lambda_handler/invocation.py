"""One invocation of the Lambda consumer: the per-invocation batch processor.

:class:`InvocationProcessor` is a
:class:`~consumers.lambda_handler.processor.ShardOrderedBatchProcessor` that holds the
invocation's state between powertools' ``_prepare`` and ``_clean`` hooks (the consumer is
shared between threads; a processor is made per call):

* :meth:`InvocationProcessor.handle_record` is powertools' record handler: the Kinesis
  record (parsed once, by :meth:`~consumers.KinesisRecord.from_lambda`) goes through the
  consumer pipeline (:class:`consumers.pipeline.EventPipeline`: decode, poison records to
  the dead-letter queue at once, the user's handler under the retrying failure policy) into
  a buffer of its own. A failure raises, which fails the record and the rest of its shard.
* with batch idempotency (:mod:`consumers.lambda_handler.batch_idempotency`), ``_prepare``
  decodes every record once and locks the invocation's event ids in one go; the records
  then go through the pipeline with that invocation's handler step, and ``_clean``
  completes the processed ids and releases the others before anything is written;
* ``_clean`` writes the buffered events of the successful records (a prefix of each shard)
  with the S3 sink (:meth:`~consumers.sink.ShardWriter.write_batch`) and reports, before the
  processor's own failures, the records the sink could not make durable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import (
    KinesisStreamRecord,
)

from consumers.decoding import decode
from consumers.errors import EventProcessingError, RecordShapeError, SinkError
from consumers.lambda_handler.batch_idempotency import (
    BatchIdempotency,
    InvocationIdempotency,
    InvocationPolicy,
)
from consumers.lambda_handler.idempotency import IdempotentHandler
from consumers.lambda_handler.processor import ShardOrderedBatchProcessor
from consumers.pipeline import Counts, EventPipeline
from consumers.records import Event, KinesisRecord, Origin, PoisonRecord, Position


class SupportsShardWriter(Protocol):
    """What the invocation needs from :class:`consumers.sink.S3Sink`."""

    def shard(self, shard_id: str) -> Any:
        """The writer of ``shard_id`` (``write_batch``, ``checkpointable``)."""


@dataclass(slots=True)
class RecordOutput:
    """What a successful record gives the sink: its events, and positions dead-lettered."""

    events: list[Event] = field(default_factory=list)
    skipped: list[Origin] = field(default_factory=list)

    def add(self, event: Event) -> None:
        """Buffer an event of the record."""
        self.events.append(event)

    def skip(self, origin: Origin) -> None:
        """Note a position consumed without output."""
        self.skipped.append(origin)


class InvocationProcessor(ShardOrderedBatchProcessor):
    """The batch processor of one invocation: records through ``pipeline``, then the
    successful prefix of each shard to ``sink(stream)``'s writers.

    After the call: ``parsed`` (every record, as read), ``processed`` (events of successful
    records), ``written`` (events written), ``counts`` (the pipeline's: failures, dead
    letters).

    ``idempotency``: the consumer's batch idempotency (None: none, or powertools' per
    event inside the pipeline's handler step).
    """

    def __init__(
        self,
        pipeline: EventPipeline,
        *,
        sink: Callable[[str], SupportsShardWriter],
        logger: Any,
        idempotency: BatchIdempotency | None = None,
    ) -> None:
        super().__init__(logger=None)
        self._shared_pipeline = self._pipeline = pipeline
        self._sink = sink
        self._log = logger
        self._idempotency = idempotency
        self._invocation: InvocationIdempotency | None = None
        self._decoded: dict[int, tuple[KinesisRecord, list[Event | PoisonRecord]]] = {}
        self._current: KinesisRecord | None = None
        self._current_items: list[Event | PoisonRecord] | None = None
        self.parsed: list[KinesisRecord] = []
        self._outputs: list[tuple[KinesisRecord, RecordOutput]] = []
        self.counts = Counts()
        self.processed = 0
        self.written = 0

    # -- powertools hooks ------------------------------------------------------------------
    def _prepare(self) -> None:
        super()._prepare()
        self._current = None
        self.parsed = []
        self._outputs = []
        self.counts = Counts()
        self.processed = 0
        self.written = 0
        self._invocation = None
        self._decoded = {}
        self._pipeline = self._shared_pipeline
        if self._idempotency is not None:
            self._begin(self._idempotency)

    def _begin(self, idempotency: BatchIdempotency) -> None:
        """Decode every record (once) and lock the ids of their events, in shard order."""
        events: list[Event] = []
        for record in self.records:
            try:
                parsed = KinesisRecord.from_lambda(record)
            except RecordShapeError:
                continue  # fails in _process_record, as without idempotency
            items = list(decode(parsed))
            self._decoded[id(record)] = (parsed, items)
            events += [item for item in items if isinstance(item, Event)]
        # powertools sets lambda_context only when the invocation was given one.
        context = getattr(self, "lambda_context", None)
        invocation = self._invocation = idempotency.begin(events, context)
        shared = self._shared_pipeline
        self._pipeline = shared.with_handler(
            IdempotentHandler(invocation), policy=InvocationPolicy(shared.policy, invocation)
        )

    def _shard_of(self, record: dict[str, Any]) -> tuple[str, str]:
        # Called for every record before its handler: the one parse of its fields.
        decoded = self._decoded.get(id(record))
        if decoded is None:
            parsed, self._current_items = KinesisRecord.from_lambda(record), None
        else:
            parsed, self._current_items = decoded
        self._current = parsed
        self.parsed.append(parsed)
        return parsed.stream, parsed.shard_id

    def _clean(self) -> None:
        if self._invocation is not None:
            # Before anything is written or reported: a record reported successful (or
            # written) has its events' idempotency records completed.
            self._invocation.finish()
        unwritten = self._write()
        super()._clean()  # type: ignore[no-untyped-call]
        if unwritten:
            # Unwritten records precede every record the processor reported: they are the
            # tail of the successful prefix.
            failures: list[Any] = [{"itemIdentifier": seq} for seq in unwritten]
            self.batch_response = {
                "batchItemFailures": failures + list(self.batch_response["batchItemFailures"])
            }

    # -- the record handler ----------------------------------------------------------------
    def handle_record(self, record: KinesisStreamRecord) -> int:  # noqa: ARG002 - parsed
        """powertools' record handler: one Kinesis record (all its events).

        Raising fails the record (and, through the processor, the rest of its shard).
        """
        parsed = self._current
        assert parsed is not None  # _shard_of ran for this record
        output = RecordOutput()
        try:
            self._pipeline.process(parsed, output, self.counts, items=self._current_items)
        except EventProcessingError:
            raise  # logged with the event's keys where it was raised
        except Exception as exc:
            # Not the event's fault (the dead-letter queue, the attempts or idempotency
            # table failed): retried without counting an attempt. Say why in the log.
            self._log.error(
                "record failed; its shard is retried from it",
                extra={
                    "shard_id": parsed.shard_id,
                    "sequence_number": parsed.sequence_number,
                    "error": f"{type(exc).__name__}: {exc}",
                },
            )
            raise
        self.processed += len(output.events)
        self._outputs.append((parsed, output))
        return len(output.events)

    # -- output ----------------------------------------------------------------------------
    def _write(self) -> list[str]:
        """Write the events of the successful records, per shard.

        Returns the sequence numbers of successful records that could not be written (the
        sink failed): those are reported as failed, from the first record past what the
        sink made durable, so Lambda retries them; what was written stays written and is
        not written again.
        """
        by_shard: dict[tuple[str, str], list[tuple[str, RecordOutput]]] = {}
        for parsed, output in self._outputs:
            key = (parsed.stream, parsed.shard_id)
            by_shard.setdefault(key, []).append((parsed.sequence_number, output))
        unwritten: list[str] = []
        for (stream, shard), records in by_shard.items():
            events = [e for _, out in records for e in out.events]
            skipped = [o for _, out in records for o in out.skipped]
            if not events and not skipped:
                continue
            writer = self._sink(stream).shard(shard)
            try:
                writer.write_batch(events, skipped=skipped)
            except SinkError as exc:
                # The one place the Lambda runtime reacts to a writer's failure: the
                # records past what is durable are reported as failed (Lambda retries them).
                durable = writer.checkpointable
                cut = next(
                    (
                        i
                        for i, (_, out) in enumerate(records)
                        if durable is None or _last_position(out) > durable
                    ),
                    len(records),
                )
                unwritten += [seq for seq, _ in records[cut:]]
                self._log.error(
                    "S3 sink failed; reporting the unwritten records as failed",
                    extra={
                        "shard_id": shard,
                        "durable": None if durable is None else str(durable),
                        "failed_records": len(records) - cut,
                        "error": str(exc),
                    },
                )
                self.written += sum(
                    1 for e in events if durable is not None and e.origin.position <= durable
                )
                continue
            self.written += len(events)
        return unwritten


def _last_position(output: RecordOutput) -> Position:
    positions = [e.origin.position for e in output.events] + [o.position for o in output.skipped]
    return max(positions, key=lambda p: p.key)
