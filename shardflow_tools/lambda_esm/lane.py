"""One ordered lane of a shard: batching, retries, bisection and discards (pure code).

Lambda processes ``ParallelizationFactor`` batches of a shard at once while keeping the
records of one partition key in order: each partition key belongs to one lane
(:func:`lane_of`) and a lane invokes one batch at a time. :class:`LaneState` is that lane's
state machine, free of I/O and clocks (the caller passes ``now``), so every rule below is
unit-tested:

* A batch is at most ``BatchSize`` records and at most the 6 MB invocation payload. It is
  invoked once it is full, or once ``MaximumBatchingWindowInSeconds`` has passed since its
  first record was read (at once when the window is 0).
* Before each invocation, records older than ``MaximumRecordAgeInSeconds`` at the head of the
  batch are discarded (condition ``MaximumRecordAgeExceeded``).
* Success completes the batch. A partial failure completes the records before the first
  reported one and retries from it: with ``BisectBatchOnFunctionError`` only the rest of the
  batch, otherwise a new batch read from that record on (as Lambda re-reads from the
  checkpoint). A function error retries the batch, or with bisection splits it in two and
  invokes the halves in order (a split consumes no retry).
* ``MaximumRetryAttempts`` counts failures of the same first record; past it the batch is
  discarded (``RetryAttemptsExhausted``). Progress (a partial failure past the head) starts
  the count again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from shardflow.hashing import hash_key
from shardflow_tools.lambda_esm.config import MAX_PAYLOAD_BYTES, MappingConfig
from shardflow_tools.lambda_esm.events import StreamRecord
from shardflow_tools.lambda_esm.outcome import InvocationResult, Outcome

RETRY_ATTEMPTS_EXHAUSTED: Final = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED: Final = "MaximumRecordAgeExceeded"


def lane_of(partition_key: str, parallelization_factor: int) -> int:
    """The lane a partition key's records go through (stable across runs)."""
    if parallelization_factor == 1:
        return 0
    return hash_key(partition_key) % parallelization_factor


@dataclass(frozen=True, slots=True)
class Settlement:
    """What an invocation (or an age check) settled.

    ``completed`` and ``discarded`` are done for good (the checkpoint may pass them);
    ``discarded`` goes to the OnFailure destination with ``condition``. ``retry`` says a
    failed batch will be invoked again after a backoff of ``attempt`` retries.
    """

    completed: list[StreamRecord] = field(default_factory=list)
    discarded: list[StreamRecord] = field(default_factory=list)
    condition: str | None = None
    retry: bool = False
    attempt: int = 0
    #: Invocations the discarded batch had (``approximateInvokeCount``).
    invocations: int = 0


class LaneState:
    """Records waiting in one lane and the batch being tried."""

    __slots__ = (
        "_config",
        "_current",
        "_halves",
        "_max_payload",
        "_queue",
        "attempts",
        "invocations",
    )

    def __init__(self, config: MappingConfig, *, max_payload_bytes: int = MAX_PAYLOAD_BYTES):
        self._config = config
        self._max_payload = max_payload_bytes
        self._queue: deque[tuple[StreamRecord, float]] = deque()
        self._current: list[StreamRecord] = []
        # Later halves of a bisected batch, the next one last.
        self._halves: list[list[StreamRecord]] = []
        #: Failed invocations of the current head record (the retry quota's count).
        self.attempts = 0
        #: Invocations since the head record last changed (approximateInvokeCount).
        self.invocations = 0

    # -- intake -----------------------------------------------------------------------------
    def add(self, records: Iterable[StreamRecord], now: float) -> None:
        """Queue records read from the shard (in shard order) at time ``now``."""
        self._queue.extend((r, now) for r in records)

    @property
    def pending(self) -> int:
        """Records in the lane not yet completed or discarded."""
        return len(self._queue) + len(self._current) + sum(len(h) for h in self._halves)

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing being tried."""
        return not (self._queue or self._current or self._halves)

    # -- batching ---------------------------------------------------------------------------
    def wait_time(self, now: float) -> float | None:
        """Seconds until a batch is due: 0 when due now, None when the lane is empty."""
        if self._current or self._halves:
            return 0.0
        if not self._queue:
            return None
        if self._full():
            return 0.0
        first_read = self._queue[0][1]
        return max(0.0, first_read + self._config.maximum_batching_window_in_seconds - now)

    def _full(self) -> bool:
        if len(self._queue) >= self._config.batch_size:
            return True
        size = 0
        for record, _ in self._queue:
            size += record.size
            if size >= self._max_payload:
                return True
        return False

    def batch(self) -> list[StreamRecord]:
        """The batch to invoke now (the one being retried, or a new one from the queue)."""
        if not self._current:
            if self._halves:
                self._current = self._halves.pop()
            else:
                self._current = self._take()
        return list(self._current)

    def _take(self) -> list[StreamRecord]:
        out: list[StreamRecord] = []
        size = 0
        limit = self._config.batch_size
        while self._queue and len(out) < limit:
            record = self._queue[0][0]
            if out and size + record.size > self._max_payload:
                break
            self._queue.popleft()
            out.append(record)
            size += record.size
        return out

    # -- settling ---------------------------------------------------------------------------
    def expire(self, now: float) -> Settlement:
        """Discard records at the head of the batch older than the maximum record age."""
        max_age = self._config.maximum_record_age_in_seconds
        if max_age < 0 or not self._current:
            return Settlement()
        cut = 0
        for record in self._current:
            if now - record.arrival <= max_age:
                break
            cut += 1
        if not cut:
            return Settlement()
        expired = self._current[:cut]
        self._current = self._current[cut:]
        invocations = self.invocations
        self._head_changed()
        return Settlement(discarded=expired, condition=RECORD_AGE_EXCEEDED, invocations=invocations)

    def settle(self, result: InvocationResult) -> Settlement:
        """Apply the outcome of invoking the current batch."""
        batch = self._current
        if not batch:
            raise RuntimeError("settle() without a batch: call batch() first")
        self.invocations += 1
        if result.outcome is Outcome.SUCCESS:
            self._current = []
            self._head_changed()
            return Settlement(completed=batch)
        if result.outcome is Outcome.PARTIAL:
            cut = result.first_failed or 0
            done, rest = batch[:cut], batch[cut:]
            if done:
                # The failed record heads the lane now; it was in this invocation.
                self._head_changed()
                self.invocations = 1
            return self._retry_or_discard(done, rest, refill=True)
        if self._config.bisect_batch_on_function_error and len(batch) > 1:
            half = len(batch) // 2
            self._halves.append(batch[half:])
            self._current = batch[:half]
            return Settlement(retry=True, attempt=0)
        return self._retry_or_discard([], batch, refill=False)

    def _retry_or_discard(
        self, done: list[StreamRecord], rest: list[StreamRecord], *, refill: bool
    ) -> Settlement:
        self.attempts += 1
        limit = self._config.maximum_retry_attempts
        if 0 <= limit < self.attempts:
            invocations = self.invocations
            self._current = []
            self._head_changed()
            return Settlement(
                completed=done,
                discarded=rest,
                condition=RETRY_ATTEMPTS_EXHAUSTED,
                invocations=invocations,
            )
        if refill and not self._config.bisect_batch_on_function_error:
            # Lambda re-reads the shard from the checkpoint: the retry is a new batch that
            # starts at the failed record and may hold records the first one did not.
            self._current = []
            stamp = 0.0  # already waited its window
            self._queue.extendleft((r, stamp) for r in reversed(rest))
        else:
            self._current = rest
        return Settlement(completed=done, retry=True, attempt=self.attempts)

    def _head_changed(self) -> None:
        self.attempts = 0
        self.invocations = 0
