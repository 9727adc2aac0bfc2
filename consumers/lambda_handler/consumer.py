"""The Lambda consumer: a Kinesis batch in, the successful prefix to S3, failures reported.

For each invocation:

1. :class:`~consumers.lambda_handler.processor.ShardOrderedBatchProcessor` walks the
   records; each Kinesis record is decoded (KPL aggregates into their events) and each
   event goes through the processing function (``process``; idempotent on the event ``id``
   when an idempotency table is configured).
2. A poison record (corrupt aggregate, invalid envelope) goes to the dead-letter queue with
   its payload at once: retrying cannot fix it. An event whose processing raises is
   retried (its record and every later record of its shard are reported as failed, so
   Lambda retries from it) until it has failed ``max_attempts`` times (counted in DynamoDB);
   then it is dead-lettered with its payload and the shard moves on.
3. The events of the successful records (a prefix of each shard) are written with the
   consumer core's S3 sink in one go (:meth:`consumers.sink.S3Sink.write_batch`): object
   keys are a function of the records' positions and positions already written by an
   earlier attempt are not written again, so retries and bisected batches never duplicate.
   If the write fails the invocation raises and Lambda retries the whole batch.
4. The response is ``{"batchItemFailures": [...]}`` (powertools' partial batch response).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import (
    KinesisStreamRecord,
)

from consumers.deadletter import DeadLetterQueue
from consumers.decoding import decode
from consumers.errors import SinkError
from consumers.lambda_handler.attempts import AttemptStore
from consumers.lambda_handler.clients import Clients
from consumers.lambda_handler.config import HandlerConfig
from consumers.lambda_handler.errors import EventProcessingError
from consumers.lambda_handler.idempotency import Idempotency
from consumers.lambda_handler.observability import (
    DEAD_LETTERED,
    FAILED,
    FAILED_RECORDS,
    PROCESSED,
    Observability,
)
from consumers.lambda_handler.processor import ShardOrderedBatchProcessor
from consumers.records import Event, KinesisRecord, Origin, PoisonRecord, Position
from consumers.sink import S3Sink
from shardflow import settings
from shardflow.imports import load_callable

#: Dead-lettered events an execution environment remembers (to skip on a record retry).
_RECENT_DEAD_LETTERS = 10_000

#: The processing function: called once per event (idempotently); raise to fail the event.
ProcessFn = Callable[[Event], Any]


def no_processing(event: Event) -> None:
    """The default processing: none beyond decoding and validation; events go to S3."""


@dataclass
class _RecordOutput:
    events: list[Event] = field(default_factory=list)
    skipped: list[Origin] = field(default_factory=list)


class _Invocation:
    """State of one invocation (the consumer itself is shared between threads)."""

    def __init__(self, consumer: LambdaConsumer) -> None:
        self.consumer = consumer
        self.outputs: dict[str, _RecordOutput] = {}
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
        output = _RecordOutput()
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
        by_shard: dict[tuple[str, str], list[tuple[str, _RecordOutput]]] = {}
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


def _last_position(output: _RecordOutput) -> Position:
    positions = [e.origin.position for e in output.events] + [o.position for o in output.skipped]
    return max(positions, key=lambda p: p.key)


def _stream_and_shard(raw: dict[str, Any], first: Event | None) -> tuple[str, str]:
    if first is not None:
        return first.origin.stream, first.origin.shard_id
    krecord = KinesisRecord.from_lambda(raw)
    return krecord.stream, krecord.shard_id


def _origin_key(origin: Origin) -> tuple[str, str, str, int | None]:
    return origin.stream, origin.shard_id, origin.sequence_number, origin.sub_sequence_number


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


class LambdaConsumer:
    """The handler: ``consumer(event, context) -> {"batchItemFailures": [...]}``.

    ``process`` is the per-event processing (side effects; default: the function
    ``SHARDFLOW_PROCESSOR`` names, else none); with an idempotency table it runs at most once
    per event ``id`` while the idempotency record lives. Raising fails the event. Everything AWS is
    built lazily from ``clients`` (one set per execution environment); ``observability``
    defaults to powertools Logger and EMF metrics on stdout. Thread-safe: the local runner
    may invoke one instance from several threads at once.
    """

    def __init__(
        self,
        config: HandlerConfig | None = None,
        *,
        process: ProcessFn | None = None,
        clients: Clients | None = None,
        observability: Observability | None = None,
    ) -> None:
        self.config = config or HandlerConfig.from_env()
        self.clients = clients or Clients()
        self.obs = observability or Observability(
            service=self.config.service,
            namespace=self.config.metrics_namespace,
            tracing=self.config.tracing,
        )
        if process is None and self.config.processor:
            process = load_callable(self.config.processor, field=settings.PROCESSOR)
        self._process: ProcessFn = process or no_processing
        self._lock = threading.Lock()
        self._sinks: dict[str, S3Sink] = {}
        self._dlq: DeadLetterQueue | None = None
        self._attempts: AttemptStore | None = None
        self._idempotency: Idempotency | None = None
        if process is not None and self.config.idempotency_table:
            self._idempotency = Idempotency(
                self.config.idempotency_table,
                process,
                clients=self.clients,
                function_name=self.config.function_name,
                ttl_seconds=self.config.idempotency_ttl_seconds,
                in_progress_expiry_seconds=self.config.idempotency_in_progress_expiry_seconds,
            )
        self._recent_dead_letters: OrderedDict[tuple[str, str, str, int | None], None] = (
            OrderedDict()
        )
        self._cold = True

    # -- resources (lazy) -------------------------------------------------------------------
    def sink(self, stream: str) -> S3Sink:
        """The S3 sink of ``stream``."""
        sink = self._sinks.get(stream)
        if sink is None:
            with self._lock:
                sink = self._sinks.get(stream)
                if sink is None:
                    sink = self._sinks[stream] = S3Sink(
                        self.config.bucket,
                        stream=stream,
                        s3_client=self.clients.s3,
                        config=self.config.sink,
                    )
        return sink

    @property
    def dlq(self) -> DeadLetterQueue:
        """The dead-letter queue (its URL looked up by name when not configured)."""
        if self._dlq is None:
            with self._lock:
                if self._dlq is None:
                    url = self.config.dlq_url or self._dlq_url_by_name()
                    self._dlq = DeadLetterQueue(
                        url,
                        sqs_client=self.clients.sqs,
                        s3_client=self.clients.s3,
                        bucket=self.config.bucket,
                        errors_prefix=self.config.errors_prefix,
                    )
        return self._dlq

    def _dlq_url_by_name(self) -> str:
        from shardflow import resources  # noqa: PLC0415

        url: str = self.clients.sqs.get_queue_url(QueueName=resources.DEAD_LETTER_QUEUE)["QueueUrl"]
        return url

    @property
    def attempts(self) -> AttemptStore:
        """The attempt counter."""
        if self._attempts is None:
            self._attempts = AttemptStore(
                self.config.attempts_table,
                dynamodb_client=self.clients.dynamodb,
                consumer=self.config.function_name,
                ttl_seconds=self.config.attempts_ttl_seconds,
            )
        return self._attempts

    # -- per event --------------------------------------------------------------------------
    @property
    def processes(self) -> bool:
        """True when events go through a processing function (not only to S3)."""
        return self._idempotency is not None or self._process is not no_processing

    def process_event(self, event: Event) -> bool:
        """Run the processing function for ``event`` (once per ``id`` with idempotency);
        False when the event was dead-lettered by an earlier invocation instead."""
        if self._idempotency is not None:
            return self._idempotency.run(event)
        self._process(event)
        return True

    def counts_as_attempt(self, exc: BaseException) -> bool:
        """False for failures that are not the event's fault (another invocation holds its
        idempotency record, or the idempotency table failed): those are retried without
        counting, so an outage never dead-letters an event."""
        return self._idempotency is None or not self._idempotency.is_store_error(exc)

    def was_dead_lettered(self, origin: Origin) -> bool:
        """True when this execution environment dead-lettered the event at ``origin``
        already (a retry of its record then skips it without calling the processing)."""
        recent = self._recent_dead_letters
        return bool(recent) and _origin_key(origin) in recent

    def mark_dead_lettered(self, event: Event) -> None:
        """Note that ``event`` went to the dead-letter queue, so that no later invocation
        processes it or sends it again: in the attempts table, in its idempotency record
        (when idempotency is on) and in this execution environment's memory."""
        self.attempts.mark_dead_lettered(event.origin)
        if self._idempotency is not None:
            self._idempotency.mark_dead_lettered(event)
        self.remember_dead_lettered(event.origin)

    def remember_dead_lettered(self, origin: Origin) -> None:
        """Note a dead-lettered event for :meth:`was_dead_lettered` (bounded memory)."""
        with self._lock:
            self._recent_dead_letters[_origin_key(origin)] = None
            while len(self._recent_dead_letters) > _RECENT_DEAD_LETTERS:
                self._recent_dead_letters.popitem(last=False)

    def dead_letter(self, poison: PoisonRecord) -> None:
        """Store a poison record with its payload; raises ``DeadLetterError`` if it cannot."""
        self.dlq.send(poison)

    # -- per invocation ---------------------------------------------------------------------
    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        started = time.perf_counter()
        obs = self.obs
        records = event.get("Records") or []
        cold, self._cold = self._cold, False
        obs.bind(
            correlation_id=getattr(context, "aws_request_id", None),
            function_name=getattr(context, "function_name", self.config.function_name),
            function_request_id=getattr(context, "aws_request_id", None),
            cold_start=cold,
        )
        invocation = _Invocation(self)
        processor = ShardOrderedBatchProcessor(logger=None)
        try:
            if self._idempotency is not None:
                self._idempotency.register_context(context)
            first = records[0] if records else {}
            with obs.segment("## shardflow.batch", records=len(records)):
                response = process_partial_response(
                    event=event,
                    record_handler=invocation.handle_record,
                    processor=processor,
                    context=context,
                )
                written, unwritten = invocation.write(processor.success_messages)
            if unwritten:
                # Unwritten records precede every record the processor reported: they are
                # the tail of the successful prefix.
                failures: list[Any] = [{"itemIdentifier": seq} for seq in unwritten]
                response = {"batchItemFailures": failures + list(response["batchItemFailures"])}
            failed_records = len(response.get("batchItemFailures", []))
            obs.logger.info(
                "batch processed",
                extra={
                    "records": len(records),
                    "failed_records": failed_records,
                    "events_written": written,
                    "events_failed": invocation.failed,
                    "events_dead_lettered": invocation.dead_lettered,
                    "shard_id": first.get("eventID", "").partition(":")[0],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            self._publish(invocation, records, failed_records)
            return dict(response)
        finally:
            obs.unbind()

    def _publish(
        self, invocation: _Invocation, records: Sequence[dict[str, Any]], failed_records: int
    ) -> None:
        age_ms = None
        stream = ""
        if records:
            last = records[-1]
            arrival = last.get("kinesis", {}).get("approximateArrivalTimestamp")
            if arrival is not None:
                age_ms = max(0.0, (time.time() - float(arrival)) * 1000)
            stream = last.get("eventSourceARN", "").rpartition(":stream/")[2]
        self.obs.publish(
            {
                PROCESSED: invocation.processed,
                FAILED: invocation.failed,
                DEAD_LETTERED: invocation.dead_lettered,
                FAILED_RECORDS: failed_records,
            },
            iterator_age_ms=age_ms,
            dimensions={"stream": stream} if stream else {},
        )
