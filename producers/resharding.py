"""Moving buffered records onto a new shard map after the stream was resharded.

When Kinesis reports a shard other than the predicted one, the producer waits until no
PutRecords call is in flight, reloads the shard list and calls :func:`redistribute`:

* shards that are still open keep their batcher (queue, open aggregate, rate limiter);
* the records buffered for shards that closed are re-added, oldest first, to the shards
  that now own their keys, keeping their original ``put`` time (and so their TTL);
* an aggregate Kinesis wrote to a shard that does not own all its records is split: the
  records inside the receiving shard's hash range are delivered there; the others are
  re-added to their own shard (the KCL discards de-aggregated records outside the range of
  the shard it reads). They go first, since they were put before anything still buffered,
  so per-key order holds.

Pure code; the caller holds the producer's lock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from producers.batching import Entry, ShardBatcher, utf8_len
from producers.client import EntryOutcome
from producers.delivery import Delivered
from producers.futures import RecordFuture
from producers.shard_map import PredictedShards
from shardflow.hashing import hash_key

__all__ = ["Redistribution", "redistribute"]


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
