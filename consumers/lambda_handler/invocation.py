"""One invocation of the Lambda consumer: its records through decoding and processing, then
the successful prefix of each shard to S3.

Internal to :mod:`consumers.lambda_handler`; :class:`~consumers.lambda_handler.LambdaConsumer`
makes one :class:`Invocation` per call (the consumer is shared between threads, an
invocation is not).

* :meth:`Invocation.handle_record` is powertools' record handler: a Kinesis record is decoded
  (KPL aggregates into their events); poison records go to the dead-letter queue at once;
  each event goes through the processing function. A failure raises, which fails the record
  and (through :class:`~consumers.lambda_handler.processor.ShardOrderedBatchProcessor`) the
  rest of its shard, unless the event has failed ``max_attempts`` times: then it is
  dead-lettered and the record succeeds without it.
* :meth:`Invocation.write` writes the events of the successful records (a prefix of each
  shard) with the S3 sink; what the sink could not make durable is reported as failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import (
    KinesisStreamRecord,
)

from consumers.decoding import decode
from consumers.errors import SinkError
from consumers.lambda_handler.errors import EventProcessingError
from consumers.records import Event, KinesisRecord, Origin, PoisonRecord, Position

if TYPE_CHECKING:
    from consumers.lambda_handler.consumer import LambdaConsumer


@dataclass
class RecordOutput:
    """What a successful record gives the sink: its events, and positions dead-lettered."""

    events: list[Event] = field(default_factory=list)
    skipped: list[Origin] = field(default_factory=list)


class Invocation:
    """State of one invocation (the consumer itself is shared between threads)."""

    def __init__(self, consumer: LambdaConsumer) -> None:
        self.consumer = consumer
        self.outputs: dict[str, RecordOutput] = {}
        self.processed = 0
        self.failed = 0
        self.dead_lettered = 0

    def handle_record(self, record: KinesisStreamRecord) -> int:
        """powertools' record handler: process one Kinesis record (all its events).

        Raising fails the record (and, through the processor, the rest of its shard).
        """
        try:
            return self._handle_record(record)
        except EventProcessingError:
            raise  # logged with the event's keys where it was raised
        except Exception as exc:
            # Not the event's fault (the dead-letter queue, the attempts or idempotency
            # table failed): retried without counting an attempt. Say why in the log.
            self.consumer.obs.logger.error(
                "record failed; its shard is retried from it",
                extra={
                    "shard_id": record.raw_event.get("eventID", "").partition(":")[0],
                    "sequence_number": record.kinesis.sequence_number,
                    "error": f"{type(exc).__name__}: {exc}",
                },
            )
            raise

    def _handle_record(self, record: KinesisStreamRecord) -> int:
        consumer = self.consumer
        output = RecordOutput()
        events, skipped = output.events, output.skipped
        process = consumer.process_event if consumer.processes else None
        was_dead_lettered = consumer.was_dead_lettered
        for item in decode(KinesisRecord.from_lambda(record.raw_event)):
            if isinstance(item, PoisonRecord):
                consumer.dead_letter(item)
                self.dead_lettered += 1
                skipped.append(item.origin)
                continue
            if was_dead_lettered(item.origin):
                skipped.append(item.origin)  # its record is being retried
                continue
            if process is not None:
                try:
                    done = process(item)
                except Exception as exc:
                    self._failed(item, exc)  # raises, unless the event is dead-lettered
                    skipped.append(item.origin)
                    continue
                if not done:
                    # Dead-lettered by an earlier invocation (its idempotency record says
                    # so); its record is being retried for a later event.
                    consumer.remember_dead_lettered(item.origin)
                    skipped.append(item.origin)
                    continue
            events.append(item)
        self.processed += len(events)
        self.outputs[record.event_id] = output
        return len(events)

    def _failed(self, item: Event, exc: Exception) -> None:
        """An event's processing raised: count the attempt, then raise to fail its record
        (Lambda retries from it), or dead-letter it once it has failed too often."""
        consumer = self.consumer
        self.failed += 1
        if not consumer.counts_as_attempt(exc):
            raise exc
        attempts = consumer.attempts.record_failure(item.origin)
        max_attempts = consumer.config.max_attempts
        keys = _event_keys(
            item,
            attempt=attempts.failures,
            max_attempts=max_attempts,
            error=f"{type(exc).__name__}: {exc}",
        )
        if attempts.dead_lettered:
            # Dead-lettered by an earlier invocation; its record is retried for a later
            # event. Not sent again.
            consumer.remember_dead_lettered(item.origin)
            return
        if attempts.failures < max_attempts:
            consumer.obs.logger.warning("event failed; its shard is retried from it", extra=keys)
            raise EventProcessingError(
                f"processing failed: {type(exc).__name__}: {exc}",
                event_id=item.id,
                attempt=attempts.failures,
                max_attempts=max_attempts,
                stream=item.origin.stream,
                shard_id=item.origin.shard_id,
                sequence_number=item.origin.sequence_number,
            ) from exc
        consumer.obs.logger.error(
            "event failed for the last time; dead-lettering it", extra=keys, exc_info=exc
        )
        consumer.dead_letter(PoisonRecord.handler_failed(item, exc))
        consumer.mark_dead_lettered(item)
        self.dead_lettered += 1

    def write(self, succeeded: Sequence[Any]) -> tuple[int, list[str]]:
        """Write the events of the successful records, per shard.

        Returns how many events were written and the sequence numbers of successful records
        that could not be written (the sink failed): those are reported as failed, from the
        first record past what the sink made durable, so Lambda retries them; what was
        written stays written and is not written again.
        """
        by_shard: dict[tuple[str, str], list[tuple[str, RecordOutput]]] = {}
        for record in succeeded:
            raw = record.raw_event if hasattr(record, "raw_event") else record
            output = self.outputs.get(raw["eventID"])
            if output is None:
                continue
            first = output.events[0] if output.events else None
            key = _stream_and_shard(raw, first)
            by_shard.setdefault(key, []).append((raw["kinesis"]["sequenceNumber"], output))
        written = 0
        unwritten: list[str] = []
        for (stream, shard), records in by_shard.items():
            events = [e for _, out in records for e in out.events]
            skipped = [o for _, out in records for o in out.skipped]
            if not events and not skipped:
                continue
            writer = self.consumer.sink(stream).shard(shard)
            try:
                writer.write_batch(events, skipped=skipped)
            except SinkError as exc:
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
                self.consumer.obs.logger.error(
                    "S3 sink failed; reporting the unwritten records as failed",
                    extra={
                        "shard_id": shard,
                        "durable": None if durable is None else str(durable),
                        "failed_records": len(records) - cut,
                        "error": str(exc),
                    },
                )
                written += sum(
                    1 for e in events if durable is not None and e.origin.position <= durable
                )
                continue
            written += len(events)
        return written, unwritten


def _last_position(output: RecordOutput) -> Position:
    positions = [e.origin.position for e in output.events] + [o.position for o in output.skipped]
    return max(positions, key=lambda p: p.key)


def _stream_and_shard(raw: dict[str, Any], first: Event | None) -> tuple[str, str]:
    if first is not None:
        return first.origin.stream, first.origin.shard_id
    krecord = KinesisRecord.from_lambda(raw)
    return krecord.stream, krecord.shard_id


def _event_keys(event: Event, **extra: Any) -> dict[str, Any]:
    origin = event.origin
    return {
        "event_id": event.id,
        "event_type": event.type,
        "shard_id": origin.shard_id,
        "sequence_number": origin.sequence_number,
        "sub_sequence_number": origin.sub_sequence_number,
        "partition_key": origin.partition_key,
        **extra,
    }
