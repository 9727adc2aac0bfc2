"""The Lambda consumer: a Kinesis batch in, the successful prefix to S3, failures reported.

:class:`LambdaConsumer` is the handler (``consumer(event, context)``): it holds what lives as
long as the execution environment (configuration, AWS clients, the S3 sink, the dead-letter
queue, the attempt counter, idempotency, observability) and runs each invocation through
powertools' batch processing:

1. :class:`~consumers.lambda_handler.processor.ShardOrderedBatchProcessor` walks the
   records with :meth:`consumers.lambda_handler.invocation.Invocation.handle_record`: each
   Kinesis record is decoded (KPL aggregates into their events) and each event goes through
   the processing function (``process``; idempotent on the event ``id`` when an idempotency
   table is configured).
2. A poison record (corrupt aggregate, invalid envelope) goes to the dead-letter queue with
   its payload at once: retrying cannot fix it. An event whose processing raises is
   retried (its record and every later record of its shard are reported as failed, so
   Lambda retries from it) until it has failed ``max_attempts`` times (counted in DynamoDB);
   then it is dead-lettered with its payload and the shard moves on.
3. The events of the successful records (a prefix of each shard) are written with the
   consumer core's S3 sink in one go (:meth:`consumers.sink.ShardWriter.write_batch`):
   object keys are a function of the records' positions and positions already written by
   an earlier attempt are not written again, so retries and bisected batches never
   duplicate. Records the sink could not make durable are reported as failed.
4. The response is ``{"batchItemFailures": [...]}`` (powertools' partial batch response).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response

from consumers.deadletter import DeadLetterQueue
from consumers.lambda_handler import heap
from consumers.lambda_handler.attempts import AttemptStore
from consumers.lambda_handler.clients import Clients
from consumers.lambda_handler.config import HandlerConfig
from consumers.lambda_handler.idempotency import Idempotency
from consumers.lambda_handler.invocation import Invocation
from consumers.lambda_handler.observability import (
    DEAD_LETTERED,
    FAILED,
    FAILED_RECORDS,
    PROCESSED,
    Observability,
)
from consumers.lambda_handler.processor import ShardOrderedBatchProcessor
from consumers.records import Event, Origin, PoisonRecord
from consumers.sink import S3Sink
from shardflow import settings
from shardflow.imports import load_callable

#: Dead-lettered events an execution environment remembers (to skip on a record retry).
_RECENT_DEAD_LETTERS = 10_000

#: The processing function: called once per event (idempotently); raise to fail the event.
ProcessFn = Callable[[Event], Any]


def no_processing(event: Event) -> None:
    """The default processing: none beyond decoding and validation; events go to S3."""


def _origin_key(origin: Origin) -> tuple[str, str, str, int | None]:
    return origin.stream, origin.shard_id, origin.sequence_number, origin.sub_sequence_number


class LambdaConsumer:
    """The handler: ``consumer(event, context) -> {"batchItemFailures": [...]}``.

    ``process`` is the per-event processing (side effects; default: the function
    ``SHARDFLOW_PROCESSOR`` names, else none); with an idempotency table it runs at most once
    per event ``id`` while the idempotency record lives. Raising fails the event. Everything AWS is
    built lazily from ``clients`` (one set per execution environment); ``observability``
    defaults to powertools Logger and EMF metrics on stdout. Thread-safe: the local runner
    may invoke one instance from several threads at once.

    After its first invocation (clients built) the consumer freezes the process heap for
    the cyclic garbage collector (:mod:`consumers.lambda_handler.heap`), once per process;
    ``freeze_heap=False`` leaves the collector alone (a program embedding the consumer that
    manages its own heap).
    """

    def __init__(
        self,
        config: HandlerConfig | None = None,
        *,
        process: ProcessFn | None = None,
        clients: Clients | None = None,
        observability: Observability | None = None,
        freeze_heap: bool = True,
    ) -> None:
        self.config = config or HandlerConfig.from_env()
        self._freeze_heap = freeze_heap
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
        invocation = Invocation(self)
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
            if cold and self._freeze_heap:
                heap.freeze_once()

    def _publish(
        self, invocation: Invocation, records: Sequence[dict[str, Any]], failed_records: int
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
