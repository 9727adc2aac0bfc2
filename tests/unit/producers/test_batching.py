"""Batching policy: aggregation per shard, request limits, ordering rules, due times."""

from __future__ import annotations

import base64

from aws_kinesis_agg.deaggregator import deaggregate_records

from producers.batching import (
    Entry,
    PlainShardBatcher,
    RequestLimits,
    ShardBatcher,
    make_batcher,
    plan_request,
)
from producers.futures import RecordFuture
from producers.rate_limit import ShardRateLimiter
from shardflow import kpl
from shardflow.hashing import hash_key

MIB = 1024 * 1024
LIMITS = RequestLimits(max_records=500, max_bytes=5 * MIB, max_buffer_time=0.1, record_ttl=30.0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _batcher(
    shard_id: str = "shardId-0",
    *,
    aggregation: bool = True,
    max_record_bytes: int = MIB,
    clock: Clock | None = None,
    limiter: ShardRateLimiter | None = None,
) -> ShardBatcher:
    return make_batcher(
        shard_id,
        aggregation=aggregation,
        max_record_bytes=max_record_bytes,
        limiter=limiter,
        clock=clock or Clock(),
    )


def _add(
    b: ShardBatcher, pk: str, data: bytes, ehk: str | None = None
) -> tuple[RecordFuture, bool]:
    fut = RecordFuture()
    sealed = b.add(pk, data, ehk, fut, len(data) + len(pk.encode()))
    return fut, sealed


def _read_with_aws_kinesis_agg(entry: Entry) -> list[tuple[str, bytes]]:
    record = {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": entry.partition_key,
            "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
            "data": base64.b64encode(entry.data()).decode(),
            "approximateArrivalTimestamp": 1545084650.987,
        },
        "eventSource": "aws:kinesis",
    }
    return [
        (r["kinesis"]["partitionKey"], base64.b64decode(r["kinesis"]["data"]))
        for r in deaggregate_records([record])
    ]


def test_records_aggregate_until_the_next_would_pass_the_record_limit() -> None:
    b = _batcher(max_record_bytes=4096)
    sealed_at = None
    futs = []
    for i in range(25):
        fut, sealed = _add(b, f"user-{i % 3}", b"x" * 200)
        futs.append(fut)
        if sealed and sealed_at is None:
            sealed_at = i
    assert sealed_at is not None and len(b.queue) == 1
    entry = b.queue[0]
    assert entry.aggregated and entry.records == sealed_at
    assert entry.size <= 4096  # data plus the aggregate's partition key
    assert len(entry.data()) + len(entry.partition_key) == entry.size
    assert [f._sub for f in futs[:sealed_at]] == list(range(sealed_at))
    assert futs[sealed_at]._sub == 0  # first record of the next aggregate
    assert _read_with_aws_kinesis_agg(entry) == [
        (f"user-{i % 3}", b"x" * 200) for i in range(sealed_at)
    ]


def test_aggregate_lands_on_its_predicted_shard_through_the_first_records_hash_key() -> None:
    b = _batcher()
    _add(b, "alpha", b"1")
    _add(b, "beta", b"2")
    entry = b.seal()
    assert entry is not None and entry.aggregated
    entry.data()
    assert entry.partition_key == "alpha"
    assert entry.explicit_hash_key == str(hash_key("alpha"))
    explicit = _batcher()
    _add(explicit, "alpha", b"1", ehk="12345")
    _add(explicit, "beta", b"2")
    entry = explicit.seal()
    assert entry is not None
    entry.data()
    assert entry.explicit_hash_key == "12345"


def test_lone_record_is_sent_plain_with_its_own_keys() -> None:
    b = _batcher()
    _add(b, "k", b'{"a":1}', ehk="99")
    entry = b.seal()
    assert entry is not None and not entry.aggregated
    assert entry.data() == b'{"a":1}'
    assert entry.request_entry() == {
        "Data": b'{"a":1}',
        "PartitionKey": "k",
        "ExplicitHashKey": "99",
    }
    assert not kpl.is_aggregated(entry.data())


def test_record_too_big_to_aggregate_goes_alone() -> None:
    b = _batcher(max_record_bytes=2048)
    _add(b, "k", b"s")
    _, sealed = _add(b, "k", b"y" * 2040)  # fits as a record, not inside an aggregate
    assert sealed
    big = b.seal()
    assert big is not None and not big.aggregated and big.data() == b"y" * 2040
    assert [e.records for e in b.queue] == [1, 1]


def test_plain_batcher_queues_every_record_on_its_own() -> None:
    clock = Clock()
    b = _batcher(aggregation=False, clock=clock)
    assert isinstance(b, PlainShardBatcher)
    for i in range(3):
        clock.now = i
        _, sealed = _add(b, f"k{i}", b"d")
        assert not sealed
    assert [(e.partition_key, e.put_time, e.aggregated) for e in b.queue] == [
        ("k0", 0, False),
        ("k1", 1, False),
        ("k2", 2, False),
    ]


def test_nothing_is_due_before_max_buffer_time_unless_forced() -> None:
    clock = Clock()
    b = _batcher(clock=clock)
    _add(b, "k", b"d")
    plan = plan_request([b], 0.05, LIMITS)
    assert plan.entries == [] and plan.next_wake == 0.1
    assert plan_request([b], 0.05, LIMITS, force=True).entries
    b2 = _batcher(clock=clock)
    _add(b2, "k", b"d")
    plan = plan_request([b2], 0.1, LIMITS)
    assert len(plan.entries) == 1 and b2.busy


def test_one_aggregate_per_shard_per_request_and_busy_shards_wait() -> None:
    clock = Clock()
    shards = [_batcher(f"s{i}", max_record_bytes=2048, clock=clock) for i in range(3)]
    for b in shards:
        for _ in range(30):  # several full aggregates each
            _add(b, "k", b"z" * 200)
    assert all(len(b.queue) >= 2 for b in shards)
    plan = plan_request(shards, 0.0, LIMITS)  # full aggregates are due at once
    assert [e.owner for e in plan.entries] == shards
    assert all(b.busy for b in shards)
    assert plan_request(shards, 10.0, LIMITS).entries == []  # all busy: nothing to send
    shards[1].busy = False
    again = plan_request(shards, 10.0, LIMITS)
    assert [e.owner for e in again.entries] == [shards[1]]


def test_plain_entries_share_a_request_only_with_distinct_partition_keys() -> None:
    b = _batcher(aggregation=False)
    for pk in ["a", "b", "a", "c"]:
        _add(b, pk, b"d")
    plan = plan_request([b], 1.0, LIMITS)
    assert [e.partition_key for e in plan.entries] == ["a", "b"]
    assert [e.partition_key for e in b.queue] == ["a", "c"]


def test_request_limits_cap_entries_and_bytes() -> None:
    many = _batcher(aggregation=False)
    for i in range(700):
        _add(many, f"k{i}", b"d")
    plan = plan_request([many], 0.0, LIMITS)  # 700 entries fill a request: due now
    assert len(plan.entries) == 500 and plan.more
    big = [_batcher(f"s{i}") for i in range(7)]
    for b in big:
        _add(b, "k", b"q" * (MIB - 100))
        b.seal()
    plan = plan_request(big, 0.0, LIMITS)
    assert sum(e.size for e in plan.entries) <= 5 * MIB
    assert len(plan.entries) == 5 and plan.more


def test_sendable_data_is_shared_between_concurrent_calls() -> None:
    shards = [_batcher(f"s{i}") for i in range(4)]
    for b in shards:
        _add(b, "k", b"q" * (MIB - 100))
        b.seal()
    one = plan_request(shards, 0.0, LIMITS, share=1)
    assert len(one.entries) == 4  # 4 MiB fit one call
    for b in shards:
        b.busy = False
        b.push_front(one.entries[shards.index(b) : shards.index(b) + 1])
    first = plan_request(shards, 0.0, LIMITS, share=4)
    assert len(first.entries) == 1 and first.more  # a quarter each, at least one entry
    second = plan_request(shards, 0.0, LIMITS, share=3)
    assert len(second.entries) == 1 and second.entries[0].owner is not first.entries[0].owner


def test_round_robin_start_serves_every_shard_in_turn() -> None:
    shards = [_batcher(f"s{i}") for i in range(8)]
    for b in shards:
        _add(b, "k", b"q" * (MIB - 100))
        b.seal()
    first = plan_request(shards, 0.0, LIMITS, start=0)
    assert [e.owner.shard_id for e in first.entries if e.owner] == [f"s{i}" for i in range(5)]
    for b in shards:
        b.busy = False
    second = plan_request(shards, 0.0, LIMITS, start=5)
    assert [e.owner.shard_id for e in second.entries if e.owner][:3] == ["s5", "s6", "s7"]


def test_rate_limit_defers_a_shard_until_its_tokens_return() -> None:
    limiter = ShardRateLimiter(1000, 1000, now=0.0)  # 1000 bytes per second
    b = _batcher(aggregation=False, limiter=limiter)
    _add(b, "a", b"x" * 799)  # 800 bytes with the key
    _add(b, "b", b"x" * 799)
    plan = plan_request([b], 1.0, LIMITS, force=True)
    assert [e.partition_key for e in plan.entries] == ["a"]
    b.busy = False
    plan = plan_request([b], 1.0, LIMITS, force=True)
    assert plan.entries == [] and 1.5 < plan.next_wake < 1.7
    assert [e.partition_key for e in plan_request([b], 1.7, LIMITS, force=True).entries] == ["b"]


def test_backoff_holds_the_shard_and_a_retried_entry_goes_first() -> None:
    b = _batcher(aggregation=False)
    for pk in ["a", "b"]:
        _add(b, pk, b"d")
    first = plan_request([b], 1.0, LIMITS)
    b.busy = False
    b.push_front(first.entries[:1])  # "a" failed, "b" succeeded
    _add(b, "a", b"second")
    b.not_before = 2.0
    plan = plan_request([b], 1.5, LIMITS, force=True)
    assert plan.entries == [] and plan.next_wake == 2.0
    plan = plan_request([b], 2.0, LIMITS)
    assert [e.partition_key for e in plan.entries] == ["a"]  # the retry; "a" again waits
    assert plan.entries[0].data() == b"d"


def test_entries_past_their_time_to_live_are_handed_back_expired() -> None:
    clock = Clock()
    b = _batcher(aggregation=False, clock=clock)
    _add(b, "old", b"d")
    clock.now = 29.0
    _add(b, "young", b"d")
    plan = plan_request([b], 30.0, LIMITS)
    assert [e.partition_key for _, e in plan.expired] == ["old"]
    assert [e.partition_key for e in plan.entries] == ["young"]


def test_drain_and_readd_keep_order_and_original_put_time() -> None:
    clock = Clock()
    old = _batcher(clock=clock)
    for i in range(5):
        _add(old, f"k{i}", f"{i}".encode())
    entries = old.drain()
    assert old.empty and [e.records for e in entries] == [5]
    clock.now = 50.0
    new = _batcher(clock=clock)
    for entry in entries:
        for fut, (pk, data, ehk) in zip(entry.futures, entry.user_records(), strict=True):
            new.readd(pk, data, ehk, fut, entry.put_time)
    assert new.oldest_put_time() == 0.0
    moved = new.seal()
    assert moved is not None
    assert [r[1] for r in moved.user_records()] == [b"0", b"1", b"2", b"3", b"4"]
