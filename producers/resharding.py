"""Resharding: when to reload the shard map, and moving buffered records onto the new one.

:class:`ShardMapRefresh` is the producer's state machine for it. When Kinesis reports a
shard other than the predicted one (:meth:`~ShardMapRefresh.request`), or wrote a KPL
aggregate to a shard that does not own all its records (:meth:`~ShardMapRefresh.hold`),
a refresh becomes pending. It runs once the refresh interval (longer after failed
refreshes) has passed and no PutRecords call is in flight, since those were planned with
the old map; new calls wait for it (:meth:`~ShardMapRefresh.poll`). The producer then
reloads the shard list, outside its lock, and :meth:`~ShardMapRefresh.finish` calls
:func:`redistribute`:

* shards that are still open keep their batcher (queue, open aggregate, rate limiter);
* the records buffered for shards that closed are re-added, oldest first, to the shards
  that now own their keys, keeping their original ``put`` time (and so their TTL);
* an aggregate Kinesis wrote to a shard that does not own all its records is split: the
  records inside the receiving shard's hash range are delivered there; the others are
  re-added to their own shard (the KCL discards de-aggregated records outside the range of
  the shard it reads). They go first, since they were put before anything still buffered,
  so per-key order holds.

If ListShards fails, the misplaced aggregates are kept and the refresh is tried again,
backing off, until their records' time to live has passed; then they are reported where
Kinesis put them.

Pure code (no I/O, the time is passed in); the caller holds the producer's lock.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from producers.batching import Entry, ShardBatcher, utf8_len
from producers.client import EntryOutcome
from producers.delivery import Delivered
from producers.futures import RecordFuture
from producers.shard_map import PredictedShards
from shardflow.hashing import hash_key

__all__ = ["BLOCKED", "Redistribution", "ShardMapRefresh", "Step", "redistribute"]

#: A batcher's ``not_before`` while it waits for a shard map refresh.
BLOCKED: Final = math.inf
#: Longest wait between failed refreshes, in seconds.
_MAX_RETRY_DELAY: Final = 5.0


@dataclass(slots=True)
class Redistribution:
    """The batchers for the new map, and what happened to the records on the way."""

    batchers: list[ShardBatcher]
    #: Records of misplaced aggregates that are where they belong after all.
    delivered: list[Delivered] = field(default_factory=list)
    #: Records re-added to another shard (from closed shards and misplaced aggregates).
    moved: int = 0
    #: Of those, records re-sent because their aggregate landed outside their shard.
    resent: int = 0


def redistribute(
    batchers: Sequence[ShardBatcher],
    predicted: PredictedShards,
    misplaced: Sequence[tuple[Entry, EntryOutcome]],
    new_batcher: Callable[[str], ShardBatcher],
) -> Redistribution:
    """Batchers for ``predicted`` holding every record of ``batchers`` and ``misplaced``."""
    old = {b.shard_id: b for b in batchers}
    out = Redistribution([old.get(s.shard_id) or new_batcher(s.shard_id) for s in predicted.shards])
    keep = {b.shard_id for b in out.batchers}
    moves: list[tuple[str, bytes, str | None, RecordFuture, float]] = []
    for entry, result in misplaced:
        rng = predicted.range_of(result.shard_id or "")
        stay: list[RecordFuture] = []
        stay_bytes = 0
        for fut, (pk, data, ehk) in zip(entry.futures, entry.user_records(), strict=True):
            key = int(ehk) if ehk is not None else hash_key(pk)
            if rng is None or key in rng:
                stay.append(fut)
                stay_bytes += len(data) + utf8_len(pk)
            else:
                moves.append((pk, data, ehk, fut, entry.put_time))
                out.resent += 1
        if stay:
            out.delivered.append(Delivered.of(entry, result, stay, stay_bytes))
    for batcher in batchers:
        if batcher.shard_id not in keep:
            for entry in batcher.drain():
                for fut, (pk, data, ehk) in zip(entry.futures, entry.user_records(), strict=True):
                    moves.append((pk, data, ehk, fut, entry.put_time))
    for pk, data, ehk, fut, put_time in moves:
        index = (
            predicted.index_for_hash(int(ehk)) if ehk is not None else predicted.index_for_key(pk)
        )
        out.batchers[index].readd(pk, data, ehk, fut, put_time)
    out.moved = len(moves)
    return out


class Step(enum.Enum):
    """What a sender thread does next, as :meth:`ShardMapRefresh.poll` decides."""

    #: Plan and send PutRecords calls as usual.
    SEND = "send"
    #: Plan nothing: a refresh runs, or waits for the calls in flight to finish.
    HOLD = "hold"
    #: Run the refresh now (this thread is the one that does).
    REFRESH = "refresh"


class ShardMapRefresh:
    """Whether a shard map refresh is due, and the misplaced aggregates waiting for it.

    Every method is called with the producer's lock held. ``interval`` is the least time
    between two refreshes (``shard_map_refresh_interval``); ``now`` a monotonic time.
    """

    __slots__ = ("_delay", "_interval", "_last", "misplaced", "pending", "running")

    def __init__(self, interval: float, now: float) -> None:
        self._interval = interval
        # The least time until the next refresh: the interval, longer after failed ones.
        self._delay = interval
        self._last = now
        #: A refresh is wanted.
        self.pending = False
        #: A sender thread is running the refresh.
        self.running = False
        #: Aggregates Kinesis wrote to a shard that does not own all their records.
        self.misplaced: list[tuple[Entry, EntryOutcome]] = []

    def request(self) -> None:
        """Kinesis reported a shard other than the predicted one: reload the map.

        A single bool store, so a sender may call it before taking the lock.
        """
        self.pending = True

    def hold(self, misplaced: Sequence[tuple[Entry, EntryOutcome]]) -> None:
        """Keep misplaced aggregates for the refresh, which says where their records go.

        Nothing more leaves their shards' queues until then: a later record of the same
        key must not overtake one that is about to be sent again.
        """
        self.misplaced.extend(misplaced)
        self.pending = True
        for entry, _result in misplaced:
            if entry.owner is not None:
                entry.owner.not_before = BLOCKED

    def poll(self, now: float, in_flight: int) -> tuple[Step, float]:
        """The next step, and when to look again if nothing else happens (inf: never).

        :attr:`Step.REFRESH` marks the refresh as running: the caller must run it and
        call :meth:`finish`.
        """
        if self.running:
            return Step.HOLD, math.inf
        if not self.pending:
            return Step.SEND, math.inf
        allowed_at = self._last + self._delay
        if now < allowed_at:
            return Step.SEND, allowed_at
        if in_flight:
            return Step.HOLD, math.inf
        self.running = True
        return Step.REFRESH, math.inf

    def finish(
        self,
        batchers: Sequence[ShardBatcher],
        predicted: PredictedShards | None,
        now: float,
        *,
        ttl: float,
        abandoned: bool,
        new_batcher: Callable[[str], ShardBatcher],
    ) -> Redistribution:
        """The refresh's ListShards answered (``predicted``) or failed (None).

        Answered: :func:`redistribute` onto the new map, every shard sends again. Failed:
        the batchers stay; misplaced aggregates whose records are past their time to live
        (or all, once the producer is ``abandoned``) are delivered where Kinesis put them,
        the others wait (their shards stay blocked) for another refresh, after a backoff.
        """
        misplaced, self.misplaced = self.misplaced, []
        self.pending = False
        self.running = False
        self._last = now
        if predicted is None:
            return self._failed(batchers, misplaced, now, ttl=ttl, abandoned=abandoned)
        self._delay = self._interval
        result = redistribute(batchers, predicted, misplaced, new_batcher)
        _unblock(result.batchers, set())
        return result

    def _failed(
        self,
        batchers: Sequence[ShardBatcher],
        misplaced: list[tuple[Entry, EntryOutcome]],
        now: float,
        *,
        ttl: float,
        abandoned: bool,
    ) -> Redistribution:
        # Their records are in the stream, but some may sit in a shard that does not own
        # their key, where the KCL skips them: worth more refreshes until the TTL passes.
        out = Redistribution(list(batchers))
        for entry, result in misplaced:
            if abandoned or entry.put_time + ttl <= now:
                out.delivered.append(Delivered.of(entry, result, entry.futures))
            else:
                self.misplaced.append((entry, result))
        if self.misplaced:
            self.pending = True
            self._delay = min(max(self._delay * 2, 0.1), _MAX_RETRY_DELAY)
        _unblock(batchers, {id(entry.owner) for entry, _ in self.misplaced})
        return out

    def abandon(self, batchers: Sequence[ShardBatcher]) -> list[Delivered]:
        """``close(timeout)`` ran out: report the misplaced aggregates where Kinesis put
        them, refresh no more, let every shard send (or fail) what it holds."""
        delivered = [Delivered.of(entry, result, entry.futures) for entry, result in self.misplaced]
        self.misplaced = []
        self.pending = False
        _unblock(batchers, set())
        return delivered


def _unblock(batchers: Sequence[ShardBatcher], keep: set[int]) -> None:
    # Shards blocked behind a misplaced aggregate send again, except those in ``keep``.
    for batcher in batchers:
        if batcher.not_before == BLOCKED and id(batcher) not in keep:
            batcher.not_before = 0.0
