"""Batching policy: per-shard accumulation into Kinesis records, and PutRecords planning.

Pure code (no I/O, no threads, the time is passed in), driven by the producer under its
lock:

* A :class:`ShardBatcher` per predicted shard collects ``put`` records. With aggregation it
  packs them into a KPL aggregate (:class:`shardflow.kpl.AggregateBuilder`) until the next
  record would pass ``max_record_bytes``; the full aggregate is sealed into an
  :class:`Entry` and queued. Without aggregation every record is its own entry.
* :func:`plan_request` picks the entries of the next PutRecords call: only from shards
  with no call in flight, at most one aggregate per shard (without aggregation: several
  entries per shard, but never two with the same partition key), within the request's
  entry and byte limits and the shards' rate limits, and only once something is due (the
  oldest record waited ``max_buffer_time``, a full aggregate or a retry is waiting, the
  buffered entries fill a request, or a flush asked for everything).

Those two rules are the ordering guarantee: an entry that fails stays at the head of its
shard's queue and is retried before anything queued after it, and nothing else for that
shard is in flight while it is retried, so records with the same partition key reach the
stream in ``put`` order.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from producers.futures import RecordFuture
from producers.rate_limit import ShardRateLimiter
from shardflow import kpl
from shardflow.hashing import hash_key

__all__ = [
    "Entry",
    "PlainShardBatcher",
    "RequestLimits",
    "RequestPlan",
    "ShardBatcher",
    "make_batcher",
    "plan_request",
]


def utf8_len(text: str) -> int:
    """Bytes of ``text`` in UTF-8 (what Kinesis counts for partition keys)."""
    return len(text) if text.isascii() else len(text.encode())


class Entry:
    """One PutRecords entry: a KPL aggregate or a plain record, and the futures riding on it.

    ``size`` is what Kinesis counts against the record and request limits (data plus
    partition key); ``nbytes`` is what the records hold of the producer's buffer.
    """

    __slots__ = (
        "_builder",
        "_data",
        "aggregated",
        "attempts",
        "explicit_hash_key",
        "futures",
        "last_error",
        "nbytes",
        "owner",
        "partition_key",
        "put_time",
        "size",
    )

    def __init__(
        self,
        *,
        partition_key: str,
        explicit_hash_key: str | None,
        futures: list[RecordFuture],
        size: int,
        nbytes: int,
        put_time: float,
        data: bytes | None = None,
        builder: kpl.AggregateBuilder | None = None,
    ) -> None:
        self.partition_key = partition_key
        self.explicit_hash_key = explicit_hash_key
        self.futures = futures
        self.size = size
        self.nbytes = nbytes
        self.put_time = put_time
        self._data = data
        self._builder = builder
        self.aggregated = builder is not None
        self.attempts = 0
        self.last_error: str | None = None
        #: The batcher whose queue the entry belongs to (set when it is queued).
        self.owner: ShardBatcher | None = None

    @property
    def records(self) -> int:
        """User records (events) in this entry."""
        return len(self.futures)

    def data(self) -> bytes:
        """The Kinesis record's bytes; an aggregate is built (and its MD5 taken) on first use.

        Call it outside the producer's lock: building a 1 MiB aggregate takes a millisecond.
        """
        data = self._data
        if data is None:
            assert self._builder is not None
            data = self._data = self._builder.build()
            self._builder = None
            if self.explicit_hash_key is None:
                # The aggregate must land on the predicted shard: the first user record's
                # hash key is inside it (the KPL does the same).
                self.explicit_hash_key = str(hash_key(self.partition_key))
        return data

    def request_entry(self) -> dict[str, object]:
        """The entry as PutRecords takes it."""
        entry: dict[str, object] = {"Data": self.data(), "PartitionKey": self.partition_key}
        if self.explicit_hash_key is not None:
            entry["ExplicitHashKey"] = self.explicit_hash_key
        return entry

    def user_records(self) -> list[tuple[str, bytes, str | None]]:
        """``(partition_key, data, explicit_hash_key)`` of every user record, in order.

        Only for the rare paths (failure callbacks, re-sending after a resharding): an
        aggregate is decoded again from its bytes.
        """
        data = self.data()
        if not self.aggregated:
            return [(self.partition_key, data, self.explicit_hash_key)]
        return [
            (rec.partition_key, rec.data, rec.explicit_hash_key) for rec in kpl.deaggregate(data)
        ]


class ShardBatcher:
    """The records buffered for one predicted shard, and the shard's sending state.

    This class aggregates; :class:`PlainShardBatcher` sends every record on its own. Make
    either with :func:`make_batcher`.
    """

    #: Records are packed into KPL aggregates (one entry per shard per request).
    aggregation = True

    __slots__ = (
        "_builder",
        "_builder_bytes",
        "_builder_futures",
        "_builder_time",
        "_limit",
        "busy",
        "clock",
        "limiter",
        "max_record_bytes",
        "not_before",
        "queue",
        "queued_bytes",
        "shard_id",
    )

    def __init__(
        self,
        shard_id: str,
        *,
        max_record_bytes: int,
        limiter: ShardRateLimiter | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.shard_id = shard_id
        self.clock = clock
        self.max_record_bytes = max_record_bytes
        self.limiter = limiter
        #: True while a PutRecords call carrying an entry of this shard is in flight.
        self.busy = False
        #: Monotonic time before which this shard sends nothing (retry backoff).
        self.not_before = 0.0
        #: Sealed entries, oldest first; a retried entry goes back to the front.
        self.queue: deque[Entry] = deque()
        #: Sum of ``size`` over ``queue``.
        self.queued_bytes = 0
        self._builder = kpl.AggregateBuilder()
        self._builder_futures: list[RecordFuture] = []
        self._builder_bytes = 0
        self._builder_time = 0.0
        # Largest aggregate body for the current builder (-1 while empty, so the first
        # record always takes the slow path that sets it up).
        self._limit = -1

    def __repr__(self) -> str:
        return (
            f"<ShardBatcher {self.shard_id} queued={len(self.queue)} "
            f"open={len(self._builder)} busy={self.busy}>"
        )

    @property
    def empty(self) -> bool:
        """Nothing buffered for this shard."""
        return not self.queue and not self._builder_futures

    @property
    def open_records(self) -> int:
        """Records in the aggregate being built."""
        return len(self._builder_futures)

    @property
    def open_size(self) -> int:
        """Bytes of the aggregate being built (0 when none is)."""
        return self._builder.size if self._builder_futures else 0

    def oldest_put_time(self) -> float:
        """``put`` time of the oldest buffered record (inf when empty)."""
        if self.queue:
            return self.queue[0].put_time
        if self._builder_futures:
            return self._builder_time
        return math.inf

    def add(
        self,
        partition_key: str,
        data: bytes,
        explicit_hash_key: str | None,
        future: RecordFuture,
        nbytes: int,
    ) -> bool:
        """Buffer one record; True when this sealed a full aggregate (a request is due)."""
        sub = self._builder.try_add(partition_key, data, explicit_hash_key, self._limit)
        if sub < 0:
            return self._add_to_new_aggregate(
                partition_key, data, explicit_hash_key, future, nbytes
            )
        future._sub = sub
        self._builder_futures.append(future)
        self._builder_bytes += nbytes
        return False

    def _add_to_new_aggregate(
        self,
        partition_key: str,
        data: bytes,
        explicit_hash_key: str | None,
        future: RecordFuture,
        nbytes: int,
    ) -> bool:
        sealed = self.seal() is not None
        # The aggregate's own partition key is its first record's; Kinesis counts it against
        # the record limit together with the data.
        self._limit = self.max_record_bytes - utf8_len(partition_key)
        self._builder_time = self.clock()
        future._sub = self._builder.add(partition_key, data, explicit_hash_key)
        self._builder_futures.append(future)
        self._builder_bytes = nbytes
        return sealed

    def seal(self) -> Entry | None:
        """Close the aggregate being built and queue it (a lone record goes plain)."""
        futures = self._builder_futures
        if not futures:
            return None
        builder = self._builder
        pk = builder.partition_key
        assert pk is not None
        if len(futures) == 1:
            # As the KPL does: one record is sent as itself, not as an aggregate of one.
            data = builder.first_data()
            entry = Entry(
                partition_key=pk,
                explicit_hash_key=builder.explicit_hash_key,
                futures=futures,
                size=len(data) + utf8_len(pk),
                nbytes=self._builder_bytes,
                put_time=self._builder_time,
                data=data,
            )
        else:
            entry = Entry(
                partition_key=pk,
                explicit_hash_key=builder.explicit_hash_key,
                futures=futures,
                size=builder.size + utf8_len(pk),
                nbytes=self._builder_bytes,
                put_time=self._builder_time,
                builder=builder,
            )
        self._queue_entry(entry)
        self._builder = kpl.AggregateBuilder()
        self._builder_futures = []
        self._builder_bytes = 0
        self._limit = -1
        return entry

    def _queue_entry(self, entry: Entry) -> None:
        entry.owner = self
        self.queue.append(entry)
        self.queued_bytes += entry.size

    def pop(self) -> Entry:
        """Take the head entry (to send it or to fail it)."""
        entry = self.queue.popleft()
        self.queued_bytes -= entry.size
        return entry

    def push_front(self, entries: Sequence[Entry]) -> None:
        """Put entries back at the head, in their original order (for a retry)."""
        for entry in reversed(entries):
            self.queue.appendleft(entry)
            self.queued_bytes += entry.size

    def drain(self) -> list[Entry]:
        """Seal and remove everything buffered, oldest first (resharding, shutdown)."""
        self.seal()
        entries = list(self.queue)
        self.queue.clear()
        self.queued_bytes = 0
        return entries

    def readd(
        self,
        partition_key: str,
        data: bytes,
        explicit_hash_key: str | None,
        future: RecordFuture,
        put_time: float,
    ) -> None:
        """Buffer a record again that was already accounted for (after a resharding)."""
        nbytes = len(data) + utf8_len(partition_key)
        self.add(partition_key, data, explicit_hash_key, future, nbytes)
        # Keep the original put time, so the record's time to live still counts from it.
        if self.aggregation:
            self._builder_time = min(self._builder_time, put_time)
        else:
            self.queue[-1].put_time = put_time


class PlainShardBatcher(ShardBatcher):
    """A shard's records without aggregation: every record is its own PutRecords entry."""

    __slots__ = ()
    aggregation = False

    def add(
        self,
        partition_key: str,
        data: bytes,
        explicit_hash_key: str | None,
        future: RecordFuture,
        nbytes: int,
    ) -> bool:
        """Queue the record as an entry of its own; never seals an aggregate (False)."""
        future._sub = 0
        self._queue_entry(
            Entry(
                partition_key=partition_key,
                explicit_hash_key=explicit_hash_key,
                futures=[future],
                size=nbytes,
                nbytes=nbytes,
                put_time=self.clock(),
                data=data,
            )
        )
        return False


def make_batcher(
    shard_id: str,
    *,
    aggregation: bool,
    max_record_bytes: int,
    limiter: ShardRateLimiter | None,
    clock: Callable[[], float] = time.monotonic,
) -> ShardBatcher:
    """A batcher for one shard, aggregating or not."""
    cls = ShardBatcher if aggregation else PlainShardBatcher
    return cls(shard_id, max_record_bytes=max_record_bytes, limiter=limiter, clock=clock)


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """Limits of one PutRecords call and how long records may wait."""

    max_records: int
    max_bytes: int
    max_buffer_time: float
    record_ttl: float


@dataclass(slots=True)
class RequestPlan:
    """What :func:`plan_request` decided."""

    #: Entries for the next PutRecords call (their shards are now marked busy).
    entries: list[Entry] = field(default_factory=list)
    #: Entries whose time to live ran out before they could be sent: fail them.
    expired: list[tuple[ShardBatcher, Entry]] = field(default_factory=list)
    #: Monotonic time when something may become due (inf: only a new put or a finished
    #: call changes anything).
    next_wake: float = math.inf
    #: More was due than fit into this request.
    more: bool = False
    #: Bytes of ``entries`` (data plus partition keys).
    size: int = 0
    #: This call's byte budget (the request limit, or its share of what is sendable).
    max_bytes: int = 0


def _due(
    batchers: Sequence[ShardBatcher], now: float, limits: RequestLimits
) -> tuple[bool, float, int]:
    """Whether a request is due now, otherwise when one may become due; and the bytes
    that could be sent now."""
    due = False
    next_wake = math.inf
    sendable_bytes = 0
    sendable_entries = 0
    for b in batchers:
        if b.busy or b.empty:
            continue
        if b.not_before > now:
            next_wake = min(next_wake, b.not_before)
            continue
        if b.queue and (b.aggregation or b.queue[0].attempts):
            due = True  # a full aggregate, or a retry whose backoff has passed
        ready_at = b.oldest_put_time() + limits.max_buffer_time
        if ready_at <= now:
            due = True
        else:
            next_wake = min(next_wake, ready_at)
        sendable_bytes += b.queued_bytes + b.open_size
        sendable_entries += len(b.queue) + (1 if b.open_records else 0)
    if sendable_bytes >= limits.max_bytes or sendable_entries >= limits.max_records:
        due = True
    return due, next_wake, sendable_bytes


def plan_request(
    batchers: Sequence[ShardBatcher],
    now: float,
    limits: RequestLimits,
    *,
    force: bool = False,
    start: int = 0,
    share: int = 1,
) -> RequestPlan:
    """Pick the entries of the next PutRecords call, or say when to look again.

    ``force`` (flush, close) makes everything due at once. ``start`` rotates which shard
    is considered first, so a busy stream with more shards than fit into one request
    serves them all in turn. ``share`` is how many calls may go out concurrently now: what
    is sendable is split evenly between them (each call takes at least one entry), so
    several shards' data travels in parallel instead of queueing behind one large call.
    """
    due, next_wake, sendable = _due(batchers, now, limits)
    plan = RequestPlan(next_wake=next_wake)
    if not (due or force):
        return plan
    plan.max_bytes = limits.max_bytes
    if share > 1:
        plan.max_bytes = min(limits.max_bytes, -(-sendable // share))
    n = len(batchers)
    for i in range(n):
        b = batchers[(start + i) % n]
        if b.busy or b.empty or b.not_before > now:
            continue
        if not b.queue:
            b.seal()
        if _take(b, plan, now, limits):
            b.busy = True
        if plan.more:
            break
    return plan


def _take(b: ShardBatcher, plan: RequestPlan, now: float, limits: RequestLimits) -> bool:
    """Move ``b``'s sendable head entries into ``plan``; True when any was taken."""
    keys: set[str] = set()
    taken = False
    while b.queue:
        head = b.queue[0]
        if head.put_time + limits.record_ttl <= now:
            plan.expired.append((b, b.pop()))
            continue
        if len(plan.entries) >= limits.max_records or (
            plan.entries and plan.size + head.size > plan.max_bytes
        ):
            plan.more = True
            break
        if not b.aggregation and head.partition_key in keys:
            break  # the same key twice in one call could be reordered by a partial failure
        if b.limiter is not None:
            wait = b.limiter.wait_time(1, head.size, now)
            if wait > 0:
                plan.next_wake = min(plan.next_wake, now + wait)
                break
            b.limiter.take(1, head.size, now)
        plan.entries.append(b.pop())
        plan.size += head.size
        taken = True
        if b.aggregation:
            break  # one aggregate per shard per call: see the module docstring
        keys.add(head.partition_key)
    return taken
