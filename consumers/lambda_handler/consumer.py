"""The Lambda consumer: a Kinesis batch in, the successful prefix to S3, failures reported.

:class:`LambdaConsumer` is the handler (``consumer(event, context)``): it holds what lives as
long as the execution environment (configuration, AWS clients, the S3 sink, the dead-letter
queue, the consumer pipeline with its failure policy and idempotency, observability) and
runs each invocation through powertools' batch processing with a fresh
:class:`~consumers.lambda_handler.invocation.InvocationProcessor`:

1. Each Kinesis record is decoded (KPL aggregates into their events) and each event goes
   through the user's handler (``handler``, also called ``process``: the consumers' one
   handler contract, :mod:`consumers.handler`; idempotent on the event ``id`` when an
   idempotency table is configured) in the consumer pipeline (:mod:`consumers.pipeline`).
   Idempotency is per batch by default (``SHARDFLOW_IDEMPOTENCY=batch``: the invocation's
   ids locked before processing, completed before the response,
   :mod:`consumers.lambda_handler.batch_idempotency`) or powertools' per event
   (``event``, :mod:`consumers.lambda_handler.idempotency`), on the same table.
2. A poison record (corrupt aggregate, invalid envelope) goes to the dead-letter queue with
   its payload at once: retrying cannot fix it. An event whose handler fails is retried
   (its record and every later record of its shard are reported as failed, so Lambda
   retries from it) until it has failed ``max_attempts`` times (counted in DynamoDB); then
   it is dead-lettered with its payload and the shard moves on
   (:class:`~consumers.failure_policy.RetryThenDeadLetter`).
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
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response

from consumers.deadletter import DeadLetterQueue
from consumers.failure_policy import RetryThenDeadLetter
from consumers.handler import Handler, HandlerStep, handler_step, load_handler
from consumers.lambda_handler import heap
from consumers.lambda_handler.attempts import AttemptStore
from consumers.lambda_handler.batch_idempotency import BatchIdempotency
from consumers.lambda_handler.clients import Clients
from consumers.lambda_handler.config import HandlerConfig
from consumers.lambda_handler.idempotency import (
    EventIdempotency,
    Idempotency,
    IdempotentHandler,
    checked,
)
from consumers.lambda_handler.invocation import InvocationProcessor
from consumers.lambda_handler.observability import (
    DEAD_LETTERED,
    FAILED,
    FAILED_RECORDS,
    PROCESSED,
    Observability,
)
from consumers.pipeline import EventPipeline
from consumers.records import Event, PoisonRecord
from consumers.sink import S3Sink
from shardflow import settings

#: The processing function: the consumers' handler contract (:data:`consumers.handler.Handler`):
#: called once per event (idempotently); None writes the event, a mapping writes that
#: envelope instead, raising fails the event.
ProcessFn = Handler


def no_processing(event: Event) -> None:
    """The default processing: none beyond decoding and validation; events go to S3."""


class _DeadLetters:
    """The consumer's dead-letter queue, built on the first poison record."""

    def __init__(self, consumer: LambdaConsumer) -> None:
        self._consumer = consumer

    def send(self, poison: PoisonRecord) -> None:
        self._consumer.dlq.send(poison)


class LambdaConsumer:
    """The handler: ``consumer(event, context) -> {"batchItemFailures": [...]}``.

    ``handler`` (or its older name ``process``) is the per-event handler (default: the
    function ``SHARDFLOW_PROCESSOR`` names, else none): it returns None to write the event,
    a mapping to write that envelope instead, or raises to fail the event; with an
    idempotency table it runs at most once per event ``id`` while the idempotency record
    lives. Everything AWS is built lazily from ``clients`` (one set per execution
    environment); ``observability`` defaults to powertools Logger and EMF metrics on
    stdout. Thread-safe: the local runner may invoke one instance from several threads at
    once.

    After its first invocation (clients built) the consumer freezes the process heap for
    the cyclic garbage collector (:mod:`consumers.lambda_handler.heap`), once per process;
    ``freeze_heap=False`` leaves the collector alone (a program embedding the consumer that
    manages its own heap).
    """

    def __init__(
        self,
        config: HandlerConfig | None = None,
        *,
        handler: Handler | None = None,
        process: ProcessFn | None = None,
        clients: Clients | None = None,
        observability: Observability | None = None,
        freeze_heap: bool = True,
    ) -> None:
        if handler is not None and process is not None:
            raise TypeError("LambdaConsumer takes handler= or its older name process=, not both")
        self.config = config or HandlerConfig.from_env()
        self._freeze_heap = freeze_heap
        self.clients = clients or Clients()
        self.obs = observability or Observability(
            service=self.config.service,
            namespace=self.config.metrics_namespace,
            tracing=self.config.tracing,
        )
        user = handler if handler is not None else process
        if user is None and self.config.processor:
            user = load_handler(self.config.processor, field=settings.PROCESSOR)
        self._lock = threading.Lock()
        self._sinks: dict[str, S3Sink] = {}
        self._dlq: DeadLetterQueue | None = None
        self._attempts: AttemptStore | None = None
        self._idempotency: EventIdempotency | None = None
        self._batch_idempotency: BatchIdempotency | None = None
        step: HandlerStep | None = None
        is_transient: Callable[[BaseException], bool] = _never
        on_dead_lettered: Callable[[Event], None] | None = None
        if user is not None and self.config.idempotency_table:
            if self.config.idempotency_mode == "batch":
                # The invocation's processor runs the handler step (it holds the locks).
                self._batch_idempotency = BatchIdempotency(
                    self.config.idempotency_table,
                    checked(user),
                    clients=self.clients,
                    function_name=self.config.function_name,
                    ttl_seconds=self.config.idempotency_ttl_seconds,
                    in_progress_expiry_seconds=self.config.idempotency_in_progress_expiry_seconds,
                    logger=self.obs.logger,
                )
                is_transient = BatchIdempotency.is_store_error
            else:
                self._idempotency = Idempotency(
                    self.config.idempotency_table,
                    checked(user),
                    clients=self.clients,
                    function_name=self.config.function_name,
                    ttl_seconds=self.config.idempotency_ttl_seconds,
                    in_progress_expiry_seconds=self.config.idempotency_in_progress_expiry_seconds,
                )
                step = IdempotentHandler(self._idempotency)
                is_transient = self._idempotency.is_store_error
                on_dead_lettered = self._idempotency.mark_dead_lettered
        elif user is not None and user is not no_processing:
            step = handler_step(user)
        self._pipeline = EventPipeline(
            dead_letters=_DeadLetters(self),
            handler=step,
            policy=RetryThenDeadLetter(
                lambda: self.attempts,
                max_attempts=self.config.max_attempts,
                is_transient=is_transient,
                on_dead_lettered=on_dead_lettered,
                logger=self.obs.logger,
            ),
            data_schema=self.config.sink.data_schema,
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
        processor = InvocationProcessor(
            self._pipeline,
            sink=self.sink,
            logger=obs.logger,
            idempotency=self._batch_idempotency,
        )
        try:
            if self._idempotency is not None:
                self._idempotency.register_context(context)
            with obs.segment("## shardflow.batch", records=len(records)):
                response = process_partial_response(
                    event=event,
                    record_handler=processor.handle_record,
                    processor=processor,
                    context=context,
                )
            failed_records = len(response.get("batchItemFailures", []))
            parsed = processor.parsed
            counts = processor.counts
            obs.logger.info(
                "batch processed",
                extra={
                    "records": len(records),
                    "failed_records": failed_records,
                    "events_written": processor.written,
                    "events_failed": counts.failed,
                    "events_dead_lettered": counts.dead_lettered,
                    "shard_id": parsed[0].shard_id if parsed else "",
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            self._publish(processor, failed_records)
            return dict(response)
        finally:
            obs.unbind()
            if cold and self._freeze_heap:
                heap.freeze_once()

    def _publish(self, processor: InvocationProcessor, failed_records: int) -> None:
        age_ms = None
        stream = ""
        if processor.parsed:
            last = processor.parsed[-1]
            age_ms = max(0.0, (time.time() - last.arrival_time.timestamp()) * 1000)
            stream = last.stream
        counts = processor.counts
        self.obs.publish(
            {
                PROCESSED: processor.processed,
                FAILED: counts.failed,
                DEAD_LETTERED: counts.dead_lettered,
                FAILED_RECORDS: failed_records,
            },
            iterator_age_ms=age_ms,
            dimensions={"stream": stream} if stream else {},
        )


def _never(_exc: BaseException) -> bool:
    return False
