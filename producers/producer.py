"""The producer: ``put`` events, get futures, let background threads deliver them.

:class:`EventProducer` is the facade. ``put`` serialises the event (envelope + orjson),
validates it, predicts its shard and hands it to that shard's
:class:`~producers.batching.ShardBatcher` under one lock; it never does I/O. Sender
threads (``max_in_flight_requests`` of them) plan PutRecords calls with
:func:`~producers.batching.plan_request`, send them without holding the lock, complete
the futures of what was written and put failed entries back at the head of their shard's
queue for a retry after a backoff. Every future completes: with a
:class:`~producers.PutResult`, or with the error that ended the record (non-retryable
error code, time to live exceeded, stream deleted, producer closed before delivery).

``put`` and ``put_many`` share one preparation step
(:func:`~producers.validation.record_preparer`: serialise, validate, size) and one
buffering step (:meth:`EventProducer._buffer`: reserve room in the
:class:`~producers.buffer.ByteBudget`, route to the predicted shard's batcher).

Resharding: when PutRecords reports a shard other than the predicted one, the producer
waits for its in-flight calls to finish, reloads the shard list (ListShards) and moves the
records buffered for shards that no longer take writes to the shards that now own their
keys, oldest first, so per-key order holds. A KPL aggregate that Kinesis placed in a shard
not owning all its records is split up: records inside the receiving shard's hash range
are complete there; the others are sent again to their own shard, because the KCL
discards de-aggregated records outside the shard's range. Consumers that do not filter
(``aws_kinesis_agg`` in a Lambda) then see those records twice, with the same envelope
``id`` to de-duplicate on. When and how is :mod:`producers.resharding`'s; this module runs
the ListShards call and installs the result.
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from producers import futures as _futures
from producers.batching import Entry, RequestLimits, ShardBatcher, make_batcher, plan_request
from producers.buffer import WAKE, ByteBudget
from producers.client import EntryOutcome, StreamClient, default_kinesis_client
from producers.config import ProducerConfig
from producers.delivery import Outcomes, classify, expired_error
from producers.exceptions import (
    BufferFullError,
    DeliveryError,
    FlushTimeoutError,
    ProducerClosedError,
    ProducerError,
)
from producers.futures import FailedRecord, RecordFuture
from producers.metrics import Metric, MetricsCollector, guarded
from producers.rate_limit import ShardRateLimiter
from producers.resharding import ShardMapRefresh, Step
from producers.retry import Backoff
from producers.shard_map import PredictedShards
from producers.validation import Prepared, record_preparer

if TYPE_CHECKING:
    from mypy_boto3_kinesis.client import KinesisClient

__all__ = ["Event", "EventProducer"]

logger = logging.getLogger(__name__)

#: What ``put`` accepts: an event mapping (wrapped in the envelope) or raw bytes (as-is).
Event: TypeAlias = Mapping[str, Any] | bytes | bytearray | memoryview

_monotonic: Final = time.monotonic
_time_ns: Final = time.time_ns

# Producers still open at interpreter exit are closed (flushed) then.
_OPEN: weakref.WeakSet[EventProducer] = weakref.WeakSet()


def _close_all_at_exit() -> None:
    for producer in list(_OPEN):
        try:
            producer.close()
        except Exception:  # pragma: no cover - best effort at shutdown
            logger.exception("closing a producer at exit failed")


atexit.register(_close_all_at_exit)


class EventProducer:
    """Puts events into a Kinesis stream: batched, KPL-aggregated, retried, rate-limited.

    >>> with EventProducer("events", client=kinesis) as producer:     # doctest: +SKIP
    ...     future = producer.put({"type": "page_view", "data": {"path": "/"}},
    ...                           partition_key="user-42")
    >>> future.result().shard_id                                       # doctest: +SKIP

    ``stream`` is the stream's name (or its ARN); ``stream_arn=`` names it by ARN, as the
    ``StreamARN`` parameter of the Kinesis API does. The constructor reads the stream's
    shards (ListShards) and raises
    :class:`~producers.StreamNotFoundError` for an unknown stream. ``client`` is a boto3
    Kinesis client (one is built, honouring ``AWS_ENDPOINT_URL``, when none is given);
    ``config`` defaults to :meth:`ProducerConfig.from_env`. ``on_failure`` is called (in a
    sender thread) with a :class:`~producers.FailedRecord` for every record that could not
    be delivered, after its future was completed with the error.
    """

    def __init__(
        self,
        stream: str | None = None,
        *,
        stream_arn: str | None = None,
        config: ProducerConfig | None = None,
        client: KinesisClient | None = None,
        metrics: MetricsCollector | None = None,
        on_failure: Callable[[FailedRecord], object] | None = None,
    ) -> None:
        if stream_arn is not None:
            if stream is not None:
                raise ValueError("give the stream's name or its ARN (stream_arn), not both")
            if not isinstance(stream_arn, str) or not stream_arn.startswith("arn:"):
                raise ValueError(f"stream_arn must be a stream ARN, got {stream_arn!r}")
            stream = stream_arn
        if not isinstance(stream, str) or not stream:
            raise ValueError(f"stream must be a non-empty name or ARN, got {stream!r}")
        cfg = config if config is not None else ProducerConfig.from_env()
        self._config = cfg
        self._stream = stream
        self._client = StreamClient(
            client if client is not None else default_kinesis_client(cfg.max_in_flight_requests),
            stream,
        )
        self._metrics: MetricsCollector = guarded(metrics)
        self._on_failure = on_failure
        self._backoff = Backoff(cfg.retry_base_delay, cfg.retry_max_delay)
        self._limits = RequestLimits(
            max_records=cfg.max_batch_records,
            max_bytes=cfg.max_request_bytes,
            max_buffer_time=cfg.max_buffer_time,
            record_ttl=cfg.record_ttl,
        )
        self._prepare = record_preparer(
            source=cfg.source, stream=stream, max_record_bytes=cfg.max_record_bytes
        )
        self._put_timeout = cfg.put_timeout

        predicted = self._load_shards()
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # sender threads wait here
        self._room = threading.Condition(self._lock)  # put() waits here for buffer room
        self._drained = threading.Condition(self._lock)  # flush()/close() wait here
        self._budget = ByteBudget(cfg.max_buffer_bytes, self._room, stream=stream)
        self._wake_after_one_request()
        self._predicted = predicted
        self._key_cache = predicted.cache
        self._batchers: list[ShardBatcher] = [
            self._new_batcher(s.shard_id) for s in predicted.shards
        ]

        # State below is guarded by self._lock.
        self._closed = False  # no more puts
        self._stopping = False  # sender threads exit when idle
        self._abandoned = False  # close(timeout) ran out: fail instead of retrying
        self._flushers = 0
        self._drain_waiters = 0
        self._in_flight = 0
        self._sleepers = 0  # sender threads waiting with no deadline
        self._round_robin = 0
        self._resharding = ShardMapRefresh(cfg.shard_map_refresh_interval, _monotonic())

        self._threads = [
            threading.Thread(
                target=self._sender_loop, name=f"shardflow-producer-{stream}-{i}", daemon=True
            )
            for i in range(cfg.max_in_flight_requests)
        ]
        for thread in self._threads:
            thread.start()
        _OPEN.add(self)

    # ------------------------------------------------------------------ public API

    @property
    def stream(self) -> str:
        """The stream's name (or ARN) this producer writes to."""
        return self._stream

    @property
    def config(self) -> ProducerConfig:
        """The producer's settings."""
        return self._config

    @property
    def shard_ids(self) -> list[str]:
        """The open shards the producer currently predicts records for."""
        with self._lock:
            return [b.shard_id for b in self._batchers]

    @property
    def buffered_records(self) -> int:
        """Records put and not yet completed (delivered or failed)."""
        return self._budget.records

    def put(
        self,
        event: Event,
        partition_key: str,
        *,
        explicit_hash_key: str | None = None,
    ) -> RecordFuture:
        """Buffer one event for delivery; return its future at once (no I/O).

        A mapping is wrapped in the envelope (``id``, ``time``, ``specversion`` and
        ``source`` filled in, ``type`` required) and serialised with orjson; bytes are sent
        as they are. Raises, without buffering anything: :class:`InvalidPartitionKeyError`
        (empty, longer than 256 characters, not a string),
        :class:`InvalidExplicitHashKeyError`, :class:`RecordTooLargeError` (data plus key
        over ``max_record_bytes``), :class:`SerializationError`,
        :class:`InvalidEnvelopeError` (an ``id``, ``source``, ``type`` or ``time`` a
        consumer would reject; an :class:`InvalidEventError`), :class:`ProducerClosedError`,
        and :class:`BufferFullError` after blocking ``put_timeout`` seconds on a full buffer.
        """
        record = self._prepare(event, partition_key, explicit_hash_key, None)
        future = RecordFuture()
        with self._lock:
            if self._closed:
                raise self._closed_error()
            if self._buffer(record, future):
                self._work.notify()
        return future

    def put_many(
        self,
        records: Iterable[tuple[Event, str] | tuple[Event, str, str | None]],
    ) -> list[RecordFuture]:
        """Buffer many ``(event, partition_key[, explicit_hash_key])`` records at once.

        All records are serialised and validated first, so a bad one raises (its index in
        the message) before any is buffered. Then they are buffered under one lock
        acquisition, which is what makes this faster than calling :meth:`put` in a loop.
        Backpressure applies per record; see :class:`BufferFullError` for a full buffer.
        """
        prepare = self._prepare
        prepared: list[Prepared] = []
        now_ms = 0
        for i, record in enumerate(records):
            if not i & 1023:  # one clock read per 1,024 envelopes (hot path)
                now_ms = _time_ns() // 1_000_000
            try:
                prepared.append(
                    prepare(record[0], record[1], record[2] if len(record) > 2 else None, now_ms)
                )
            except ProducerError as exc:
                exc.args = (f"record {i}: {exc.args[0]}",)
                raise
        out: list[RecordFuture] = []
        wake = False
        with self._lock:
            if self._closed:
                raise self._closed_error()
            buffer = self._buffer
            try:
                for one in prepared:
                    future = RecordFuture()
                    if buffer(one, future):
                        wake = True
                    out.append(future)
            except BufferFullError as exc:
                exc.accepted = out
                raise
            if wake:
                self._work.notify_all()
        return out

    def _buffer(self, record: Prepared, future: RecordFuture) -> bool:
        """Buffer one prepared record (lock held); True when a sender thread should wake.

        Reserves the record's room in the budget, waiting (the lock released) while the
        buffer is full, then adds it to the batcher of the shard its key predicts.
        """
        partition_key, data, explicit_hash_key, nbytes, hash_value = record
        reserved = self._budget.try_reserve(nbytes)
        if not reserved:
            self._work.notify_all()  # what is buffered may be due: senders free the room
            reserved = self._wait_for_room(nbytes)
        try:
            if hash_value is None:
                index = self._key_cache.get(partition_key)
                if index is None:
                    index = self._predicted.index_for_key(partition_key)
            else:
                index = self._predicted.index_for_hash(hash_value)
            batcher = self._batchers[index]
            # A full request may be ready (WAKE), or a sleeping sender must start the
            # max_buffer_time clock of the first record.
            wake = reserved == WAKE or (self._sleepers > 0 and batcher.empty)
            if batcher.add(partition_key, data, explicit_hash_key, future, nbytes):
                return True  # a full aggregate: a request is due
        except BaseException:
            self._release(nbytes, 1)  # a bug must not leave phantom bytes behind
            raise
        return wake

    def _wait_for_room(self, nbytes: int) -> int:
        # Lock held; blocks (releasing it) until the budget has room, then reserves it.
        reserved = self._budget.reserve(nbytes, 1, self._put_timeout)
        if self._closed:  # closed while we waited
            self._release(nbytes, 1)
            raise self._closed_error()
        return reserved

    def flush(self, timeout: float | None = None) -> None:
        """Send everything buffered now and wait until every record put so far completed.

        With other threads still putting, it returns once the buffer was empty at some
        moment. Raises :class:`FlushTimeoutError` after ``timeout`` seconds (records keep
        being delivered in the background).
        """
        with self._lock:
            self._flushers += 1
            self._work.notify_all()
            try:
                if not self._wait_drained(timeout):
                    raise FlushTimeoutError(
                        f"flush: {self._budget.records} records still undelivered after "
                        f"{timeout} s",
                        pending=self._budget.records,
                        stream=self._stream,
                    )
            finally:
                self._flushers -= 1
        self._metrics.flush()

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting records, deliver everything buffered, stop the sender threads.

        Waits at most ``timeout`` seconds (None: until every record completed, which the
        records' time to live bounds). Records still unsent when the timeout passes are
        completed with :class:`ProducerClosedError` (and reported to ``on_failure``).
        Calling it again does nothing.
        """
        with self._lock:
            if self._stopping:
                return
            self._closed = True
            self._work.notify_all()
            self._room.notify_all()
            drained = self._wait_drained(timeout)
        if not drained:
            self._abandon()
        with self._lock:
            self._stopping = True
            self._work.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join()
        _OPEN.discard(self)
        self._metrics.flush()

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<EventProducer stream={self._stream!r} shards={len(self._batchers)} "
            f"buffered={self._budget.records} closed={self._closed}>"
        )

    def _closed_error(self) -> ProducerClosedError:
        return ProducerClosedError(
            f"producer for stream {self._stream!r} is closed", stream=self._stream
        )

    # ------------------------------------------------------------------ shards

    def _load_shards(self) -> PredictedShards:
        shards = self._client.list_shards()
        try:
            return PredictedShards(shards, cache_size=self._config.partition_key_cache_size)
        except (ValueError, LookupError) as exc:
            raise ProducerError(
                f"stream {self._stream!r} has no open shard to write to: {exc}",
                stream=self._stream,
            ) from exc

    def _new_batcher(self, shard_id: str) -> ShardBatcher:
        cfg = self._config
        limiter = None
        if cfg.shard_records_per_second or cfg.shard_bytes_per_second:
            limiter = ShardRateLimiter(
                cfg.shard_records_per_second, cfg.shard_bytes_per_second, _monotonic()
            )
        return make_batcher(
            shard_id,
            aggregation=cfg.aggregation,
            max_record_bytes=cfg.max_record_bytes,
            limiter=limiter,
        )

    # ------------------------------------------------------------------ sender threads

    def _sender_loop(self) -> None:
        while True:
            job = self._next_job()
            if job is None:
                return
            try:
                job()
            except Exception:  # pragma: no cover - a bug; keep the thread alive
                logger.exception("producer sender thread: unexpected error")

    def _next_job(self) -> Callable[[], None] | None:
        with self._lock:
            while True:
                now = _monotonic()
                step, next_wake = self._resharding.poll(now, self._in_flight)
                if step is Step.REFRESH:
                    return self._refresh
                if step is Step.SEND:
                    plan = plan_request(
                        self._batchers,
                        now,
                        self._limits,
                        force=self._closed or self._flushers > 0,
                        start=self._round_robin,
                        share=self._config.max_in_flight_requests - self._in_flight,
                    )
                    self._round_robin += 1
                    self._wake_after_one_request()
                    if plan.entries or plan.expired:
                        if plan.entries:
                            self._in_flight += 1
                        if plan.more:
                            self._work.notify()
                        entries, expired = plan.entries, plan.expired
                        return lambda: self._send(entries, expired)
                    next_wake = min(next_wake, plan.next_wake)
                if self._stopping:
                    return None
                if next_wake == math.inf:
                    self._sleepers += 1
                    try:
                        self._work.wait()
                    finally:
                        self._sleepers -= 1
                else:
                    # A floor keeps a deadline that is a hair in the future from spinning.
                    self._work.wait(max(next_wake - now, 0.0005))

    def _wake_after_one_request(self) -> None:
        # Lock held (or in __init__): put() wakes a sender once a full request may be
        # buffered beyond what there is now; each plan moves the level on.
        cfg = self._config
        self._budget.wake_after(
            cfg.max_request_bytes, None if cfg.aggregation else cfg.max_batch_records
        )

    def _send(self, entries: list[Entry], expired: list[tuple[ShardBatcher, Entry]]) -> None:
        outcomes = Outcomes()
        for _owner, entry in expired:
            ttl = self._config.record_ttl
            outcomes.failed.append((entry, expired_error(entry, ttl=ttl, stream=self._stream)))
        if not entries:
            self._apply(outcomes, freed=(), in_flight_done=False)
            return
        results: list[EntryOutcome] | None = None
        error: ProducerError | None = None
        started = _monotonic()
        try:
            request = [entry.request_entry() for entry in entries]  # builds the aggregates
            for entry in entries:
                entry.attempts += 1
            started = _monotonic()
            results = self._client.put_records(request)
        except ProducerError as exc:
            error = exc
        except Exception as exc:
            # A client that raises something unexpected must not strand the records.
            logger.exception("PutRecords raised an unexpected error")
            error = DeliveryError(
                f"PutRecords raised {type(exc).__name__}: {exc}",
                stream=self._stream,
                error_code=type(exc).__name__,
            )
        now = _monotonic()
        self._metrics.observe(Metric.REQUEST_LATENCY, (now - started) * 1000.0)
        decided = classify(
            entries,
            results,
            error,
            now=now,
            backoff=self._backoff,
            ttl=self._config.record_ttl,
            stream=self._stream,
        )
        decided.failed[:0] = outcomes.failed  # the expired entries
        if decided.resharded:
            self._resharding.request()
        if decided.throttled:
            self._metrics.increment(Metric.THROTTLES, decided.throttled)
        if decided.retry:
            self._metrics.increment(Metric.RETRIES, len(decided.retry))
        self._apply(decided, freed=entries, in_flight_done=True)

    def _abandon_error(self) -> ProducerClosedError:
        return ProducerClosedError(
            f"producer for stream {self._stream!r} was closed before the record was delivered",
            stream=self._stream,
        )

    def _fail(self, failed: Sequence[tuple[Entry, ProducerError]]) -> tuple[int, int]:
        """Complete failed entries' futures, tell ``on_failure``; (records, bytes) freed."""
        records = nbytes = 0
        for entry, error in failed:
            _futures.complete(entry.futures, error)
            records += entry.records
            nbytes += entry.nbytes
            if self._on_failure is None:
                continue
            try:
                user_records = entry.user_records()
            except Exception:  # pragma: no cover - only if our own aggregate is corrupt
                logger.exception("cannot decode a failed record for on_failure")
                continue
            for fut, (pk, data, ehk) in zip(entry.futures, user_records, strict=True):
                try:
                    self._on_failure(FailedRecord(pk, data, ehk, error, fut))
                except Exception:
                    logger.exception("on_failure callback raised")
        return records, nbytes

    def _release(self, nbytes: int, records: int) -> None:
        # Lock held.
        self._budget.release(nbytes, records)
        if self._budget.records == 0 and self._drain_waiters:
            self._drained.notify_all()

    def _wait_drained(self, timeout: float | None) -> bool:
        # Lock held. True once no record is buffered; False when ``timeout`` passed first.
        deadline = None if timeout is None else _monotonic() + timeout
        self._drain_waiters += 1
        try:
            while self._budget.records:
                remaining = None if deadline is None else deadline - _monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._drained.wait(remaining)
            return True
        finally:
            self._drain_waiters -= 1

    def _apply(self, outcomes: Outcomes, *, freed: Sequence[Entry], in_flight_done: bool) -> None:
        """Complete futures (without the lock), then update shards and buffer (with it)."""
        for done in outcomes.delivered:
            _futures.complete(done.futures, done.delivery)
        released_records, released_bytes = self._fail(outcomes.failed)
        late_failures: list[tuple[Entry, ProducerError]] = []
        now = _monotonic()
        with self._lock:
            if in_flight_done:
                self._in_flight -= 1
            for entry in freed:
                if entry.owner is not None:
                    entry.owner.busy = False
            by_owner: dict[int, tuple[ShardBatcher, list[Entry], float]] = {}
            for entry, delay in outcomes.retry:
                owner = entry.owner
                if self._abandoned or owner is None:
                    late_failures.append((entry, self._abandon_error()))
                    continue
                by_owner.setdefault(id(owner), (owner, [], delay))[1].append(entry)
            for owner, retried, delay in by_owner.values():
                owner.push_front(retried)
                owner.not_before = max(owner.not_before, now + delay)
            if outcomes.misplaced:
                self._resharding.hold(outcomes.misplaced)
            for done in outcomes.delivered:
                released_records += len(done.futures)
                released_bytes += done.nbytes
            self._release(released_bytes, released_records)
            # One sender is enough: it plans what became sendable and wakes another when
            # more is due (plan.more). Waking them all made every call a thundering herd.
            self._work.notify()
        if late_failures:
            records, nbytes = self._fail(late_failures)
            with self._lock:
                self._release(nbytes, records)
            self._metrics.increment(Metric.USER_RECORDS_FAILED, records)
        self._report(outcomes, now)

    def _report(self, outcomes: Outcomes, now: float) -> None:
        metrics = self._metrics
        if outcomes.delivered:
            metrics.increment(
                Metric.USER_RECORDS_PUT, sum(len(d.futures) for d in outcomes.delivered)
            )
            metrics.increment(Metric.KINESIS_RECORDS_PUT, len(outcomes.delivered))
            metrics.increment(Metric.BYTES_PUT, sum(d.size for d in outcomes.delivered))
            oldest = min(d.put_time for d in outcomes.delivered)
            metrics.observe(Metric.BUFFERING_TIME, (now - oldest) * 1000.0)
        if outcomes.failed:
            metrics.increment(
                Metric.USER_RECORDS_FAILED, sum(entry.records for entry, _ in outcomes.failed)
            )

    # ------------------------------------------------------------------ resharding

    def _refresh(self) -> None:
        """Reload the shard map (a sender thread, when :meth:`ShardMapRefresh.poll` said so)."""
        try:
            predicted: PredictedShards | None = self._load_shards()
        except ProducerError as exc:
            predicted = None
            logger.warning("stream %s: cannot refresh the shard map: %s", self._stream, exc)
        self._metrics.increment(Metric.SHARD_MAP_REFRESHES)
        outcomes = Outcomes()
        with self._lock:
            result = self._resharding.finish(
                self._batchers,
                predicted,
                _monotonic(),
                ttl=self._config.record_ttl,
                abandoned=self._abandoned,
                new_batcher=self._new_batcher,
            )
            outcomes.delivered.extend(result.delivered)
            if predicted is not None:
                self._predicted = predicted
                self._key_cache = predicted.cache
                self._batchers = result.batchers
                logger.info(
                    "stream %s: shard map refreshed, %d open shards, %d records moved",
                    self._stream,
                    len(result.batchers),
                    result.moved,
                )
            if self._abandoned:
                for batcher in self._batchers:
                    outcomes.failed.extend((e, self._abandon_error()) for e in batcher.drain())
            self._work.notify_all()
        if result.resent:
            self._metrics.increment(Metric.MISPLACED_RECORDS, result.resent)
        self._apply(outcomes, freed=(), in_flight_done=False)

    def _abandon(self) -> None:
        """close(timeout) ran out: fail what is not in flight; in-flight calls finish."""
        outcomes = Outcomes()
        with self._lock:
            self._abandoned = True
            for batcher in self._batchers:
                outcomes.failed.extend((e, self._abandon_error()) for e in batcher.drain())
            outcomes.delivered.extend(self._resharding.abandon(self._batchers))
        self._apply(outcomes, freed=(), in_flight_done=False)
