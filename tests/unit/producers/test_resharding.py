"""ShardMapRefresh: when a shard map refresh runs, and what waits for it (no threads, no I/O)."""

from __future__ import annotations

import math

from producers.batching import Entry, ShardBatcher, make_batcher
from producers.client import EntryOutcome
from producers.futures import RecordFuture
from producers.resharding import BLOCKED, ShardMapRefresh, Step
from producers.shard_map import PredictedShards

TOP = (1 << 128) - 1


def _shards(*ids: str) -> PredictedShards:
    width = (TOP + 1) // len(ids)
    return PredictedShards(
        {
            "ShardId": shard_id,
            "HashKeyRange": {
                "StartingHashKey": str(i * width),
                "EndingHashKey": str(TOP if i == len(ids) - 1 else (i + 1) * width - 1),
            },
        }
        for i, shard_id in enumerate(ids)
    )


def _batcher(shard_id: str) -> ShardBatcher:
    return make_batcher(shard_id, aggregation=False, max_record_bytes=1 << 20, limiter=None)


def _misplaced(owner: ShardBatcher, *, put_time: float) -> tuple[Entry, EntryOutcome]:
    owner.add("k", b"d", None, RecordFuture(), 2)
    entry = owner.pop()
    entry.put_time = put_time
    entry.attempts = 1
    return entry, EntryOutcome(shard_id=owner.shard_id, sequence_number="7")


def test_a_refresh_waits_for_its_interval_and_for_the_calls_in_flight() -> None:
    refresh = ShardMapRefresh(interval=1.0, now=10.0)
    assert refresh.poll(10.5, in_flight=0) == (Step.SEND, math.inf)
    refresh.request()
    assert refresh.poll(10.5, in_flight=0) == (Step.SEND, 11.0)  # not before the interval
    assert refresh.poll(11.0, in_flight=2) == (Step.HOLD, math.inf)  # planned with the old map
    assert refresh.poll(11.0, in_flight=0) == (Step.REFRESH, math.inf)
    # One thread runs it; the others plan nothing until it finished.
    assert refresh.poll(11.0, in_flight=0) == (Step.HOLD, math.inf)
    batchers = [_batcher("shardId-0")]
    result = refresh.finish(
        batchers, _shards("shardId-0"), 11.2, ttl=30.0, abandoned=False, new_batcher=_batcher
    )
    assert result.batchers == batchers
    assert refresh.poll(11.3, in_flight=0) == (Step.SEND, math.inf)


def test_misplaced_aggregates_block_their_shard_until_the_new_map_is_installed() -> None:
    refresh = ShardMapRefresh(interval=0.0, now=0.0)
    old = _batcher("shardId-0")
    entry, result = _misplaced(old, put_time=1.0)
    refresh.hold([(entry, result)])
    assert old.not_before == BLOCKED and refresh.pending
    assert refresh.poll(2.0, in_flight=0)[0] is Step.REFRESH
    out = refresh.finish(
        [old],
        _shards("shardId-1", "shardId-2"),
        2.0,
        ttl=30.0,
        abandoned=False,
        new_batcher=_batcher,
    )
    assert [b.shard_id for b in out.batchers] == ["shardId-1", "shardId-2"]
    # The record is where its key belongs, or delivered where Kinesis put it: never both.
    assert out.resent + sum(len(d.futures) for d in out.delivered) == 1
    assert all(b.not_before != BLOCKED for b in out.batchers)
    assert refresh.misplaced == []


def test_a_failed_refresh_backs_off_and_keeps_what_may_still_be_placed() -> None:
    refresh = ShardMapRefresh(interval=0.0, now=0.0)
    owner = _batcher("shardId-0")
    young = _misplaced(owner, put_time=9.0)
    old = _misplaced(owner, put_time=0.0)
    refresh.hold([young, old])
    assert refresh.poll(10.0, in_flight=0)[0] is Step.REFRESH
    out = refresh.finish([owner], None, 10.0, ttl=5.0, abandoned=False, new_batcher=_batcher)
    # Past its time to live: reported where Kinesis put it; the young one waits.
    assert [d.futures for d in out.delivered] == [old[0].futures]
    assert refresh.misplaced == [young]
    assert owner.not_before == BLOCKED
    assert refresh.poll(10.05, in_flight=0) == (Step.SEND, 10.1)  # backing off
    assert refresh.poll(10.1, in_flight=0)[0] is Step.REFRESH


def test_abandon_reports_the_misplaced_where_they_are_and_stops_refreshing() -> None:
    refresh = ShardMapRefresh(interval=0.0, now=0.0)
    owner = _batcher("shardId-0")
    entry, result = _misplaced(owner, put_time=0.0)
    refresh.hold([(entry, result)])
    delivered = refresh.abandon([owner])
    assert [d.futures for d in delivered] == [entry.futures]
    assert owner.not_before == 0.0
    assert refresh.poll(1.0, in_flight=0) == (Step.SEND, math.inf)
