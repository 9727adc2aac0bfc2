"""One shard of the mapping: a poller thread and one thread per lane.

The poller reads the shard with GetRecords from the checkpoint (or the starting position),
registers each record with :class:`~shardflow_tools.lambda_esm.progress.ShardProgress` and queues
it on its partition key's lane. Each lane thread invokes the handler one batch at a time
(:class:`~shardflow_tools.lambda_esm.lane.LaneState` decides batches, retries and discards) and
checkpoints what is done. When the shard is closed and read to its end, and every lane has
finished, the checkpoint is marked ``shard_end`` so the runner starts the children.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from shardflow import aws
from shardflow_tools.lambda_esm.checkpoints import Checkpoint, CheckpointStore
from shardflow_tools.lambda_esm.config import MappingConfig, RunnerOptions
from shardflow_tools.lambda_esm.destination import OnFailureDestination, invocation_record
from shardflow_tools.lambda_esm.errors import CheckpointConflictError, CheckpointError, MappingError
from shardflow_tools.lambda_esm.events import Source, StreamRecord, to_stream_record
from shardflow_tools.lambda_esm.invoker import Invoker, Stats
from shardflow_tools.lambda_esm.lane import LaneState, Settlement, lane_of
from shardflow_tools.lambda_esm.progress import ShardProgress

if TYPE_CHECKING:
    from mypy_boto3_kinesis.client import KinesisClient

logger = logging.getLogger(__name__)

#: GetRecords returns at most this many records.
GET_RECORDS_LIMIT: Final = 10_000
_THROTTLED: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "ThrottlingException",
        "KMSThrottlingException",
    }
)
#: Server-side failures worth another try (botocore already retried them a few times).
_TRANSIENT: Final = frozenset({"InternalFailure", "ServiceUnavailable", "InternalServerError"})
_MIN_BACKOFF: Final = 0.1
_MAX_THROTTLE_BACKOFF: Final = 5.0


def _retryable(exc: ClientError | BotoCoreError) -> bool:
    """Throttling, a server-side failure or a connection problem: try again later."""
    if isinstance(exc, BotoCoreError):
        return True
    code = aws.error_code(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return code in _THROTTLED or code in _TRANSIENT or status >= 500


class ShardWorker:
    """Reads one shard and invokes the handler for it, lane by lane."""

    def __init__(
        self,
        *,
        stream: str,
        shard: Mapping[str, Any],
        source: Source,
        config: MappingConfig,
        options: RunnerOptions,
        kinesis_client: KinesisClient,
        checkpoints: CheckpointStore,
        checkpoint: Checkpoint,
        invoker_for_lane: Callable[[int], Invoker],
        destination: OnFailureDestination | None,
        stats: Stats,
        from_trim_horizon: bool = False,
    ) -> None:
        self.stream = stream
        self.shard_id: str = shard["ShardId"]
        self._ending_sequence_number: str | None = shard.get("SequenceNumberRange", {}).get(
            "EndingSequenceNumber"
        )
        self._source = source
        self._config = config
        self._options = options
        self._kinesis = kinesis_client
        self._checkpoints = checkpoints
        self._checkpoint = checkpoint
        self._destination = destination
        self._stats = stats
        self._from_trim_horizon = from_trim_horizon
        factor = config.parallelization_factor
        marks = checkpoint.lane_marks if checkpoint.parallelization_factor == factor else {}
        self._progress = ShardProgress(
            checkpoint.sequence_number, parallelization_factor=factor, lane_marks=marks
        )
        self._lanes = [LaneState(config) for _ in range(factor)]
        self._invokers = [invoker_for_lane(i) for i in range(factor)]
        self._cond = threading.Condition()
        self._checkpoint_lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_read: str | None = checkpoint.sequence_number
        self._read_end = False
        #: The last GetRecords found nothing new and MillisBehindLatest was 0.
        self.caught_up = False
        #: The shard is closed, fully processed and checkpointed as ended.
        self.ended = False
        #: The error that stopped this worker, if any.
        self.error: BaseException | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Start the poller and the lane threads."""
        name = f"esm-{self.shard_id}"
        self._threads = [threading.Thread(target=self._guard(self._poll), name=name, daemon=True)]
        self._threads += [
            threading.Thread(
                target=self._guard(self._run_lane, i), name=f"{name}-lane{i}", daemon=True
            )
            for i in range(len(self._lanes))
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Ask the threads to stop after the invocations under way (no new batch starts)."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the threads; True when all have finished."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(left)
        return not self.alive

    @property
    def alive(self) -> bool:
        """True while any thread runs."""
        return any(t.is_alive() for t in self._threads)

    @property
    def idle(self) -> bool:
        """Caught up (or ended) with nothing queued or in flight."""
        with self._cond:
            lanes_idle = all(lane.idle for lane in self._lanes)
            return (
                self.ended
                or (self.caught_up and lanes_idle and self._progress.outstanding == 0)
                or self.error is not None
            )

    def shard_closed(self, ending_sequence_number: str) -> None:
        """The runner saw in ListShards that the shard was closed (resharded)."""
        self._ending_sequence_number = ending_sequence_number

    def _guard(self, target: Callable[..., None], *args: Any) -> Callable[[], None]:
        def run() -> None:
            try:
                target(*args)
            except BaseException as exc:
                logger.exception("shard %s stopped on an error", self.shard_id)
                self.error = exc
                self.stop()

        return run

    # -- polling ----------------------------------------------------------------------------
    def _iterator(self, after: str | None) -> str | None:
        """A shard iterator after ``after`` (else the starting position); None when the
        worker is asked to stop while retrying."""
        kwargs: dict[str, Any] = {"StreamName": self.stream, "ShardId": self.shard_id}
        if after is not None:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=after)
        elif self._from_trim_horizon:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs["ShardIteratorType"] = self._config.starting_position
            if self._config.starting_position_timestamp is not None:
                kwargs["Timestamp"] = self._config.starting_position_timestamp
        delay = _MIN_BACKOFF
        while True:
            try:
                iterator: str = self._kinesis.get_shard_iterator(**kwargs)["ShardIterator"]
            except (ClientError, BotoCoreError) as exc:
                if not _retryable(exc):
                    what = f"cannot get a shard iterator ({kwargs['ShardIteratorType']})"
                    raise self._error(what, exc) from exc
                # GetShardIterator allows 5 calls a second per shard: back off, try again.
                logger.info("GetShardIterator on %s failed (%s); retrying", self.shard_id, exc)
                if self._stopping.wait(delay):
                    return None
                delay = min(delay * 2, _MAX_THROTTLE_BACKOFF)
            else:
                return iterator

    def _error(self, what: str, exc: ClientError | BotoCoreError) -> MappingError:
        return MappingError(
            f"{what}: {exc}",
            stream=self.stream,
            shard_id=self.shard_id,
            error_code=aws.error_code(exc),
        )

    def _buffered(self) -> int:
        return sum(lane.pending for lane in self._lanes)

    def _poll(self) -> None:
        if self._checkpoint.shard_end:
            self.ended = True
            return
        iterator = self._iterator(self._checkpoint.sequence_number)
        throttle_delay = _MIN_BACKOFF
        while iterator is not None and not self._stopping.is_set():
            with self._cond:
                if self._buffered() >= self._options.max_buffered_records:
                    self._cond.wait(self._options.poll_interval_seconds)
                    continue
            try:
                resp = self._kinesis.get_records(ShardIterator=iterator, Limit=GET_RECORDS_LIMIT)
            except (ClientError, BotoCoreError) as exc:
                if aws.error_code(exc) == "ExpiredIteratorException":
                    # Iterators live five minutes; resume after the last record read.
                    logger.info("iterator of %s expired; getting a new one", self.shard_id)
                    iterator = self._iterator(self._last_read)
                    continue
                if not _retryable(exc):
                    raise self._error("GetRecords failed", exc) from exc
                logger.info("GetRecords on %s failed (%s); retrying", self.shard_id, exc)
                self._stopping.wait(throttle_delay)
                throttle_delay = min(throttle_delay * 2, _MAX_THROTTLE_BACKOFF)
                continue
            throttle_delay = _MIN_BACKOFF
            items = resp.get("Records", [])
            behind = resp.get("MillisBehindLatest", 0)
            if items:
                self._enqueue(
                    [
                        to_stream_record(i, shard_id=self.shard_id, source=self._source)
                        for i in items
                    ]
                )
            next_iterator = resp.get("NextShardIterator")
            if next_iterator is None or self._read_to_end(items, behind):
                self._finish_shard()
                return
            iterator = next_iterator
            if not items and behind == 0:
                self.caught_up = True
                self._stopping.wait(self._options.poll_interval_seconds)
            else:
                self.caught_up = False

    def _read_to_end(self, items: list[Any], behind: int) -> bool:
        # moto never ends a closed shard's iterator; a closed shard read past its ending
        # sequence number, or read dry, has nothing more to give.
        end = self._ending_sequence_number
        if end is None:
            return False
        if self._last_read is not None and int(self._last_read) >= int(end):
            return True
        return not items and behind == 0

    def _enqueue(self, records: list[StreamRecord]) -> None:
        now = time.monotonic()
        factor = self._config.parallelization_factor
        with self._cond:
            fresh = self._progress.read(records)
            self._last_read = records[-1].sequence_number
            by_lane: dict[int, list[StreamRecord]] = {}
            for record in fresh:
                by_lane.setdefault(lane_of(record.partition_key, factor), []).append(record)
            for lane, recs in by_lane.items():
                self._lanes[lane].add(recs, now)
            skipped = len(records) - len(fresh)
            self._cond.notify_all()
        if skipped:
            logger.info(
                "%s: %d records completed before the restart are not delivered again",
                self.shard_id,
                skipped,
            )
            self._stats.add(records_completed=skipped)
            self._save_checkpoint()

    def _finish_shard(self) -> None:
        self._read_end = True
        with self._cond:
            while not self._stopping.is_set() and (
                self._progress.outstanding or not all(lane.idle for lane in self._lanes)
            ):
                self._cond.wait(self._options.poll_interval_seconds)
            if self._progress.outstanding:
                return  # stopping with work left: the shard is not finished
        self._save_checkpoint(shard_end=True)
        self.ended = True
        self._stats.add(shards_ended=1)
        logger.info("shard %s ended", self.shard_id)

    # -- lanes ------------------------------------------------------------------------------
    def _run_lane(self, index: int) -> None:
        lane = self._lanes[index]
        invoker = self._invokers[index]
        while True:
            with self._cond:
                while not self._stopping.is_set():
                    wait = lane.wait_time(time.monotonic())
                    if wait == 0:
                        break
                    self._cond.wait(
                        wait if wait is not None else self._options.poll_interval_seconds
                    )
                if self._stopping.is_set():
                    return
                lane.batch()
                aged = lane.expire(time.time())
                batch = [] if aged.discarded else lane.batch()
            if aged.discarded:
                self._apply(aged, None)
                continue
            result = invoker.invoke(batch)
            with self._cond:
                settled = lane.settle(result)
            self._apply(settled, result.function_error)
            if settled.retry and settled.attempt:
                delay = min(
                    self._options.retry_backoff_seconds * 2 ** (settled.attempt - 1),
                    self._options.retry_backoff_cap_seconds,
                )
                self._stopping.wait(delay)

    def _apply(self, settled: Settlement, function_error: bool | None) -> None:
        if settled.discarded:
            self._report_discard(settled, bool(function_error))
        done = settled.completed + settled.discarded
        if not done:
            return
        with self._cond:
            self._progress.complete(done)
            self._cond.notify_all()
        self._stats.add(
            records_completed=len(settled.completed), records_discarded=len(settled.discarded)
        )
        self._save_checkpoint()

    def _report_discard(self, settled: Settlement, function_error: bool) -> None:
        first, last = settled.discarded[0], settled.discarded[-1]
        if self._destination is None:
            logger.warning(
                "discarded %d records of %s (%s-%s): %s; no OnFailure destination",
                len(settled.discarded),
                self.shard_id,
                first.sequence_number,
                last.sequence_number,
                settled.condition,
            )
            return
        record = invocation_record(
            settled.discarded,
            condition=settled.condition or "",
            function_arn=self._source.function_arn,
            stream_arn=self._source.stream_arn,
            invocations=settled.invocations,
            function_error=function_error,
            now=time.time(),
        )
        # A destination that cannot take the record stops the shard before the checkpoint
        # passes the discarded records: they are retried after a restart, not lost.
        self._destination.send(record)

    def _save_checkpoint(self, *, shard_end: bool = False) -> None:
        with self._checkpoint_lock:
            with self._cond:
                sequence_number = self._progress.checkpoint
                marks = self._progress.lane_marks
            previous = self._checkpoint
            if (
                not shard_end
                and sequence_number == previous.sequence_number
                and marks == previous.lane_marks
            ):
                return
            attempt = 0
            while True:
                try:
                    self._checkpoint = self._checkpoints.save(
                        previous,
                        sequence_number=sequence_number,
                        lane_marks=marks,
                        parallelization_factor=self._config.parallelization_factor,
                        shard_end=shard_end,
                    )
                except CheckpointConflictError:
                    raise  # another runner owns the shard now: stop
                except CheckpointError as exc:
                    # The table is unreachable or throttled (an outage): what was processed
                    # is durable in S3 and replays are harmless, so retry as the AWS event
                    # source mapping does, instead of stopping the shard. Asked to stop, the
                    # checkpoint stays behind: a restart replays from it.
                    attempt += 1
                    delay = min(
                        self._options.retry_backoff_seconds * 2 ** min(attempt - 1, 16),
                        self._options.retry_backoff_cap_seconds,
                    )
                    logger.warning(
                        "%s: checkpoint failed (attempt %d): %s; retrying in %.2fs",
                        self.shard_id,
                        attempt,
                        exc,
                        delay,
                    )
                    if self._stopping.wait(delay):
                        return
                    continue
                break
            self._stats.add(checkpoints_written=1)
