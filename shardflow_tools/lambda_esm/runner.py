"""The local event source mapping: every shard of a stream, resharding included.

:class:`EventSourceMappingRunner` lists the stream's shards, starts a
:class:`~shardflow_tools.lambda_esm.shard.ShardWorker` for each shard whose parents are done
(a child starts only once its parent, and for a merge both parents, are checkpointed as
ended, and then reads from its trim horizon, as Lambda does), and lists again every
``shard_sync_interval_seconds`` to find children of a split or merge.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shardflow import aws
from shardflow_tools.lambda_esm.checkpoints import Checkpoint, CheckpointStore
from shardflow_tools.lambda_esm.config import MappingConfig, RunnerOptions
from shardflow_tools.lambda_esm.destination import OnFailureDestination
from shardflow_tools.lambda_esm.errors import MappingError, StreamNotFoundError
from shardflow_tools.lambda_esm.events import Source
from shardflow_tools.lambda_esm.invoker import Handler, Invoker, RunStats, Stats
from shardflow_tools.lambda_esm.shard import ShardWorker

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_kinesis.client import KinesisClient
    from mypy_boto3_sqs.client import SQSClient

logger = logging.getLogger(__name__)


class EventSourceMappingRunner:
    """Polls a Kinesis stream and invokes a Lambda handler in-process, as Lambda's mapping does.

    ``handler`` is called as ``handler(event, context)``; give ``handler_factory`` instead to
    build one handler per lane, like one execution environment per concurrent batch.
    Clients are built from :mod:`shardflow.aws` when not given, for the region and endpoint
    of ``options``.
    """

    def __init__(
        self,
        stream: str,
        handler: Handler | None = None,
        *,
        config: MappingConfig | None = None,
        options: RunnerOptions | None = None,
        handler_factory: Callable[[], Handler] | None = None,
        kinesis_client: KinesisClient | None = None,
        dynamodb_client: DynamoDBClient | None = None,
        sqs_client: SQSClient | None = None,
    ) -> None:
        if (handler is None) == (handler_factory is None):
            raise ValueError("give exactly one of handler and handler_factory")
        self.stream = stream
        self.config = config or MappingConfig.from_env()
        self.options = options or RunnerOptions.from_env()
        threads = 4 + 2 * self.config.parallelization_factor
        pool = Config(max_pool_connections=max(10, threads * 4), retries={"mode": "standard"})
        self._kinesis = kinesis_client or self._client("kinesis", pool)
        self._ddb = dynamodb_client or self._client("dynamodb", pool)
        self._sqs = sqs_client
        if self.config.on_failure_queue_url and self._sqs is None:
            self._sqs = self._client("sqs", None)
        self._handler = handler
        self._handler_factory = handler_factory
        self.runner_id = uuid.uuid4().hex
        self._checkpoints = CheckpointStore(
            self.options.checkpoint_table,
            consumer=self.options.function_name,
            dynamodb_client=self._ddb,
            owner=self.runner_id,
        )
        self._destination = (
            OnFailureDestination(self.config.on_failure_queue_url, sqs_client=self._sqs)
            if self.config.on_failure_queue_url and self._sqs is not None
            else None
        )
        self._stats = Stats()
        self._workers: dict[str, ShardWorker] = {}
        self._shards: dict[str, dict[str, Any]] = {}
        self._ended: set[str] = set()
        self._waiting: set[str] = set()
        self._source: Source | None = None
        self._stopping = threading.Event()
        self._synced_once = False
        self._lock = threading.Lock()

    def _client(self, service: str, config: Config | None) -> Any:
        return aws.client(
            service,
            region=self.options.region,
            endpoint_url=self.options.endpoint_url,
            config=config,
        )

    # -- public API -------------------------------------------------------------------------
    @property
    def stats(self) -> RunStats:
        """Counters so far."""
        return self._stats.snapshot()

    @property
    def errors(self) -> dict[str, BaseException]:
        """Errors that stopped shard workers, by shard id."""
        with self._lock:
            return {s: w.error for s, w in self._workers.items() if w.error is not None}

    def run(
        self,
        *,
        until_drained: bool = False,
        timeout: float | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> RunStats:
        """Run until stopped (:meth:`stop`, Ctrl-C), ``timeout``, ``should_stop()``, or,
        with ``until_drained``, until every shard is read to its end and processed.

        Shuts down gracefully: invocations under way finish and are checkpointed.
        Raises :class:`MappingError` when a shard stopped on an error.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        next_sync = 0.0
        try:
            while not self._stopping.is_set():
                now = time.monotonic()
                if now >= next_sync or self._any_ended():
                    self.sync_shards()
                    next_sync = now + self.options.shard_sync_interval_seconds
                if self.errors:
                    break
                if until_drained and self.drained():
                    break
                if should_stop is not None and should_stop():
                    break
                if deadline is not None and now >= deadline:
                    break
                self._stopping.wait(min(0.05, self.options.poll_interval_seconds))
        finally:
            self.shutdown()
        errors = self.errors
        if errors:
            shard, exc = next(iter(errors.items()))
            raise MappingError(f"shard stopped: {exc}", stream=self.stream, shard_id=shard) from exc
        return self.stats

    def stop(self) -> None:
        """Ask :meth:`run` to return (thread-safe; also from a signal handler)."""
        self._stopping.set()

    def shutdown(self, timeout: float = 60.0) -> None:
        """Stop every shard worker after its invocation under way, and wait for them."""
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            worker.stop()
        deadline = time.monotonic() + timeout
        for worker in workers:
            if not worker.join(max(0.0, deadline - time.monotonic())):
                logger.warning("shard %s did not stop within %.0fs", worker.shard_id, timeout)

    def drained(self) -> bool:
        """Every shard processed up to the end of what the stream holds now."""
        with self._lock:
            if not self._synced_once or self._waiting:
                return False
            for shard_id in self._shards:
                worker = self._workers.get(shard_id)
                if shard_id in self._ended:
                    continue
                if worker is None or not worker.idle:
                    return False
            return True

    def __enter__(self) -> EventSourceMappingRunner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self.shutdown()

    # -- shards -----------------------------------------------------------------------------
    def _any_ended(self) -> bool:
        with self._lock:
            return any(w.ended and s not in self._ended for s, w in self._workers.items())

    def _error(self, operation: str, exc: ClientError) -> MappingError:
        code = aws.error_code(exc)
        if code == "ResourceNotFoundException":
            return StreamNotFoundError("stream not found", stream=self.stream, error_code=code)
        return MappingError(f"{operation} failed: {exc}", stream=self.stream, error_code=code)

    def _describe(self) -> Source:
        try:
            summary = self._kinesis.describe_stream_summary(StreamName=self.stream)
        except ClientError as exc:
            raise self._error("DescribeStreamSummary", exc) from exc
        arn: str = summary["StreamDescriptionSummary"]["StreamARN"]
        return Source.for_stream_arn(
            arn, region=self.options.region, function_name=self.options.function_name
        )

    def _list_shards(self) -> dict[str, dict[str, Any]]:
        shards: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {"StreamName": self.stream}
        try:
            while True:
                resp = self._kinesis.list_shards(**kwargs)
                for shard in resp["Shards"]:
                    shards[shard["ShardId"]] = dict(shard)
                token = resp.get("NextToken")
                if not token:
                    return shards
                kwargs = {"NextToken": token}
        except ClientError as exc:
            raise self._error("ListShards", exc) from exc

    def sync_shards(self) -> None:
        """List the shards; start workers for shards whose parents have ended."""
        if self._source is None:
            self._source = self._describe()
        try:
            shards = self._list_shards()
            checkpoints = self._checkpoints.all()
        except (BotoCoreError, MappingError) as exc:
            if isinstance(exc, StreamNotFoundError) or not self._synced_once:
                raise
            logger.warning(
                "listing shards of %s failed (%s); keeping the last view", self.stream, exc
            )
            return
        with self._lock:
            self._shards = shards
            for shard_id, worker in self._workers.items():
                if worker.ended and shard_id not in self._ended:
                    self._ended.add(shard_id)
                    worker.stop()
                end = (
                    shards.get(shard_id, {})
                    .get("SequenceNumberRange", {})
                    .get("EndingSequenceNumber")
                )
                if end:
                    worker.shard_closed(end)
            for shard_id, cp in checkpoints.items():
                if cp.shard_end:
                    self._ended.add(shard_id)
            self._waiting = set()
            for shard_id, shard in sorted(shards.items()):
                if shard_id in self._workers or shard_id in self._ended:
                    continue
                parents = [
                    p
                    for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId"))
                    if p and p in shards
                ]
                if any(p not in self._ended for p in parents):
                    self._waiting.add(shard_id)
                    continue
                self._start_worker(shard, checkpoints.get(shard_id), child=bool(parents))
            self._synced_once = True

    def _start_worker(
        self, shard: dict[str, Any], checkpoint: Checkpoint | None, *, child: bool
    ) -> None:
        assert self._source is not None
        shard_id = shard["ShardId"]
        worker = ShardWorker(
            stream=self.stream,
            shard=shard,
            source=self._source,
            config=self.config,
            options=self.options,
            kinesis_client=self._kinesis,
            checkpoints=self._checkpoints,
            checkpoint=checkpoint or Checkpoint(shard_id),
            invoker_for_lane=lambda _lane: self._invoker(),
            destination=self._destination,
            stats=self._stats,
            from_trim_horizon=child,
        )
        self._workers[shard_id] = worker
        logger.info(
            "starting %s of %s from %s",
            shard_id,
            self.stream,
            worker_position(checkpoint, child, self.config),
        )
        worker.start()

    def _invoker(self) -> Invoker:
        handler = self._handler_factory() if self._handler_factory else self._handler
        assert handler is not None
        return Invoker(
            handler,
            function_name=self.options.function_name,
            function_arn=self._source.function_arn if self._source else "",
            timeout_seconds=self.options.function_timeout_seconds,
            report_batch_item_failures=self.config.report_batch_item_failures,
            stats=self._stats,
        )


def worker_position(checkpoint: Checkpoint | None, child: bool, config: MappingConfig) -> str:
    """Where a shard starts, for logs."""
    if checkpoint is not None and checkpoint.sequence_number:
        return f"after {checkpoint.sequence_number}"
    if child:
        return "TRIM_HORIZON (child shard)"
    return config.starting_position
