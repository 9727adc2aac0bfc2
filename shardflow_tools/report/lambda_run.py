"""The Lambda consumer of the demo: the Lambda handler under the local event source mapping,
on a thread of the demo's process, from TRIM_HORIZON into ``s3://<stream>/<prefix>/``."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

from shardflow import aws, resources
from shardflow_tools.bootstrap import bootstrap, checkpoint_table

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

#: The Lambda consumer's table location in the demo's bucket: the sink's default prefix, so
#: ``shardflow query`` without ``--prefix`` reads it as before the KCL joined the demo.
LAMBDA_PREFIX: Final = resources.OUTPUT_PREFIX


@dataclass
class ConsumeStats:
    """What the Lambda consumer did, and where its output went."""

    bucket: str = ""
    prefix: str = ""
    invocations: int = 0
    failed_invocations: int = 0
    kinesis_records: int = 0
    dead_letters: int = 0
    seconds: float = 0.0


class LambdaRun:
    """The Lambda handler under the local event source mapping, on a thread, from
    TRIM_HORIZON into ``s3://<stream>/<prefix>/``; its resources (bucket, dead-letter queue,
    tables) are created for the run."""

    def __init__(self, endpoint: str, stream: str, prefix: str = LAMBDA_PREFIX) -> None:
        from consumers.lambda_handler import (  # noqa: PLC0415
            Clients,
            HandlerConfig,
            LambdaConsumer,
            Observability,
        )
        from consumers.sink import SinkConfig  # noqa: PLC0415
        from shardflow_tools.lambda_esm import (  # noqa: PLC0415 - needs the "lambda" extra
            EventSourceMappingRunner,
            MappingConfig,
            RunnerOptions,
        )
        from shardflow_tools.lambda_esm.resources import handler_spec  # noqa: PLC0415

        self.clients = Clients(
            s3=aws.client("s3", endpoint_url=endpoint),
            sqs=aws.client("sqs", endpoint_url=endpoint),
            dynamodb=aws.client("dynamodb", endpoint_url=endpoint),
        )
        config = HandlerConfig.from_env(
            bucket=stream,
            sink=SinkConfig.from_env(prefix=prefix),
            idempotency_table=f"{stream}-idempotency",
            attempts_table=f"{stream}-attempts",
            function_name=f"{stream}-consumer",
        )
        dlq, checkpoints = f"{stream}-dlq", f"{stream}-checkpoints"
        needs = handler_spec(config, dead_letter_queue=dlq)
        report = bootstrap(
            replace(needs, tables=(*needs.tables, checkpoint_table(checkpoints))),
            clients={
                "s3": self.clients.s3,
                "sqs": self.clients.sqs,
                "dynamodb": self.clients.dynamodb,
            },
        )
        self.config = replace(config, dlq_url=report.queue_urls[dlq])
        self.runner = EventSourceMappingRunner(
            stream,
            LambdaConsumer(
                self.config,
                clients=self.clients,
                # The summary is the demo's output: the handler's JSON logs and EMF metrics
                # (what CloudWatch would get) stay quiet unless something goes wrong.
                observability=Observability(
                    service=self.config.service,
                    namespace=self.config.metrics_namespace,
                    log_level="WARNING",
                    emit_metrics=False,
                ),
            ),
            config=MappingConfig.from_env(starting_position="TRIM_HORIZON"),
            options=RunnerOptions(
                function_name=self.config.function_name,
                checkpoint_table=checkpoints,
                poll_interval_seconds=0.2,
                shard_sync_interval_seconds=2.0,
            ),
            kinesis_client=aws.client("kinesis", endpoint_url=endpoint),
            dynamodb_client=self.clients.dynamodb,
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lambda-esm", daemon=True)
        self._run_stats: Any = None
        self.error: BaseException | None = None
        self.started = 0.0

    def _run(self) -> None:
        try:
            self._run_stats = self.runner.run(should_stop=self._stop.is_set)
        except BaseException as exc:  # reported by stop() in the demo's thread
            self.error = exc

    def start(self) -> None:
        """Start consuming."""
        self.started = time.monotonic()
        self._thread.start()

    def records_completed(self) -> int:
        """Kinesis records done so far."""
        return int(self.runner.stats.records_completed)

    def halt(self) -> None:
        """Stop consuming: invocations under way finish and are checkpointed."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=300)

    def stop(self) -> ConsumeStats:
        """Stop (see :meth:`halt`); what it did, or the error that stopped it."""
        self.halt()
        if self.error is not None:
            raise self.error
        run = self._run_stats if self._run_stats is not None else self.runner.stats
        return ConsumeStats(
            bucket=self.config.bucket,
            prefix=self.config.sink.prefix,
            invocations=run.invocations,
            failed_invocations=run.failed_invocations + run.partial_failures,
            kinesis_records=run.records_completed,
            dead_letters=dead_letters(self.clients.sqs, self.config.dlq_url or ""),
            seconds=time.monotonic() - self.started,
        )


def dead_letters(sqs: SQSClient, url: str) -> int:
    """Messages in the dead-letter queue at ``url`` (0 without one)."""
    from consumers.deadletter_queue import queue_depth  # noqa: PLC0415

    return (queue_depth(sqs, url) or 0) if url else 0
