"""The producer against a real Kinesis API endpoint (the embedded emulator by default).

What a user would notice: every event arrives exactly once, in put order per partition key,
readable by an independent de-aggregator; failed entries are retried alone; records that
cannot be delivered fail their futures; close() delivers everything; a resharding in the
middle of a run loses nothing.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from producers import (
    EventProducer,
    FailedRecord,
    InMemoryMetrics,
    Metric,
    ProducerConfig,
    RecordExpiredError,
    StreamNotFoundError,
)
from shardflow.hashing import hash_key

from .conftest import (
    PutRecordsFaults,
    ThrottleEverything,
    UserRecord,
    is_external_moto,
    kcl_view,
    read_stream,
)

# The emulator enforces no shard limits; the client-side pacing stays on at AWS defaults
# except where a test needs speed.
FAST = ProducerConfig(max_buffer_time=0.02, retry_base_delay=0.01, retry_max_delay=0.05)


def _numbers(records: list[UserRecord]) -> list[int]:
    return [orjson.loads(r.data)["data"]["n"] for r in records]


def _assert_per_key_order(records: list[UserRecord]) -> None:
    last: dict[str, int] = {}
    for rec in records:  # read order: shard by shard, sequence then sub-sequence number
        n = orjson.loads(rec.data)["data"]["n"]
        assert n > last.get(rec.partition_key, -1), f"{rec.partition_key}: {n} after {last}"
        last[rec.partition_key] = n


def _shard_of(kinesis: Any, stream: str, key: str) -> str:
    value = hash_key(key)
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        rng = shard["HashKeyRange"]
        if "EndingSequenceNumber" not in shard["SequenceNumberRange"] and int(
            rng["StartingHashKey"]
        ) <= value <= int(rng["EndingHashKey"]):
            return str(shard["ShardId"])
    raise AssertionError(f"no open shard for {key}")


def test_20000_events_over_4_shards_arrive_exactly_once_in_order(
    aws_client: Callable[[str], Any], make_stream: Callable[[int], str]
) -> None:
    kinesis = aws_client("kinesis")
    stream = make_stream(4)
    config = ProducerConfig(shard_records_per_second=None, shard_bytes_per_second=None)
    with EventProducer(stream, client=kinesis, config=config) as producer:
        futures = [
            producer.put(
                {"type": "order_placed", "source": "shop/checkout", "data": {"n": i, "ü": "€"}},
                partition_key=f"customer-{i % 311}",
            )
            for i in range(20_000)
        ]
    results = [f.result(timeout=60) for f in futures]
    records = read_stream(kinesis, stream)
    assert sorted(_numbers(records)) == list(range(20_000))
    ids = [orjson.loads(r.data)["id"] for r in records]
    assert len(set(ids)) == 20_000
    _assert_per_key_order(records)
    assert {r.shard_id for r in records} == {
        s["ShardId"] for s in kinesis.list_shards(StreamName=stream)["Shards"]
    }
    # Aggregates never mix shards: each event sits in the shard owning its key.
    owners = {f"customer-{k}": _shard_of(kinesis, stream, f"customer-{k}") for k in range(311)}
    assert all(r.shard_id == owners[r.partition_key] for r in records)
    assert len(kcl_view(kinesis, stream, records)) == 20_000
    # The futures say where each event is.
    by_number = {orjson.loads(r.data)["data"]["n"]: r for r in records}
    for i in (0, 777, 19_999):
        assert results[i].shard_id == by_number[i].shard_id
        assert int(results[i].sequence_number) == by_number[i].sequence_number
        assert results[i].sub_sequence_number == by_number[i].sub_sequence_number


def test_failed_entries_are_retried_alone(
    aws_client: Callable[[str], Any], make_stream: Callable[[int], str]
) -> None:
    kinesis = aws_client("kinesis")
    stream = make_stream(2)
    # Every entry of the first two calls at an odd position is throttled.
    faults = PutRecordsFaults(kinesis, lambda call, index, _rec: call < 2 and index % 2 == 1)
    config = ProducerConfig(
        aggregation=False, max_buffer_time=0.2, retry_base_delay=0.01, retry_max_delay=0.02
    )
    metrics = InMemoryMetrics()
    with EventProducer(stream, client=kinesis, config=config, metrics=metrics) as producer:
        futures = producer.put_many(
            [({"type": "t", "data": {"n": i}}, f"key-{i}") for i in range(40)]
        )
    assert all(f.exception(timeout=30) is None for f in futures)
    first_keys, first_failed = faults.calls[0]
    retried = {first_keys[i] for i in first_failed}
    later_keys = {k for keys, _ in faults.calls[1:] for k in keys}
    assert retried <= later_keys  # the throttled entries were sent again ...
    assert not (set(first_keys) - retried) & later_keys  # ... and only those
    records = read_stream(kinesis, stream)
    assert sorted(_numbers(records)) == list(range(40))  # exactly once
    assert metrics.counter(Metric.THROTTLES) == sum(len(f) for _, f in faults.calls)
    attempts = Counter(f.result().attempts for f in futures)
    assert attempts[1] and attempts[2]


def test_records_expire_after_their_ttl_and_reach_on_failure(
    aws_client: Callable[[str], Any], make_stream: Callable[[int], str]
) -> None:
    kinesis = aws_client("kinesis")
    stream = make_stream(1)
    hooks = ThrottleEverything(kinesis)
    failures: list[FailedRecord] = []
    config = ProducerConfig(
        max_buffer_time=0.01, record_ttl=0.5, retry_base_delay=0.02, retry_max_delay=0.1
    )
    with EventProducer(stream, client=kinesis, config=config, on_failure=failures.append) as prod:
        futures = [prod.put({"type": "t", "data": {"n": i}}, partition_key="k") for i in range(5)]
    for future in futures:
        error = future.exception(timeout=30)
        assert isinstance(error, RecordExpiredError)
        assert error.error_code == "ProvisionedThroughputExceededException"
        assert error.stream == stream
    assert sorted(orjson.loads(f.data)["data"]["n"] for f in failures) == list(range(5))
    assert hooks.calls >= 2
    assert read_stream(kinesis, stream) == []


def test_close_under_load_delivers_everything(
    aws_client: Callable[[str], Any], make_stream: Callable[[int], str]
) -> None:
    kinesis = aws_client("kinesis")
    stream = make_stream(3)
    producer = EventProducer(
        stream, client=kinesis, config=ProducerConfig(max_buffer_time=0.5, record_ttl=120)
    )
    started = threading.Barrier(5)

    def produce(thread: int) -> None:
        started.wait(timeout=30)
        for i in range(1500):
            producer.put({"type": "t", "data": {"n": thread * 10_000 + i}}, f"t{thread}-{i % 9}")

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    started.wait(timeout=30)
    for thread in threads:
        thread.join(timeout=60)
    producer.close()  # while most records are still buffered (max_buffer_time=0.5)
    records = read_stream(kinesis, stream)
    expected = sorted(t * 10_000 + i for t in range(4) for i in range(1500))
    assert sorted(_numbers(records)) == expected


def test_unknown_stream_is_a_specific_error(
    aws_client: Callable[[str], Any], unique_name: Callable[[str], str]
) -> None:
    with pytest.raises(StreamNotFoundError, match="does not exist"):
        EventProducer(unique_name("missing"), client=aws_client("kinesis"), config=FAST)


@pytest.fixture
def aws_like_resharding(
    aws_endpoint: str, aws_client: Callable[[str], Any], make_stream: Callable[[int], str]
) -> Iterator[str]:
    """A stream whose resharding behaves as in Kinesis.

    moto (5.2) routes new records into closed parent shards and moves a parent's records
    into its children when it splits; Kinesis does neither. For the in-process emulator
    both are patched for the test; against an external moto server the test is skipped.
    """
    kinesis = aws_client("kinesis")
    stream = make_stream(4)
    if is_external_moto(aws_endpoint, kinesis, stream):
        pytest.skip("an external moto server reshards unlike Kinesis (see fixture docstring)")
    try:
        from moto.kinesis.models import Stream
    except ImportError:
        yield stream  # LocalStack or AWS: nothing to patch
        return
    patch = pytest.MonkeyPatch()
    original_split = Stream.split_shard

    def route_to_open_shards(self: Any, partition_key: str, explicit_hash_key: str) -> Any:
        key = int(explicit_hash_key) if explicit_hash_key else hash_key(partition_key)
        for shard in self.shards.values():
            if shard.is_open and shard.starting_hash <= key <= shard.ending_hash:
                return shard
        return None

    def split_keeping_parent_records(self: Any, shard_to_split: str, new_hash: str) -> None:
        parent = self.shards[shard_to_split]
        kept, parent.records = parent.records, type(parent.records)()
        original_split(self, shard_to_split, new_hash)
        parent.records = kept

    patch.setattr(Stream, "get_shard_for_key", route_to_open_shards)
    patch.setattr(Stream, "split_shard", split_keeping_parent_records)
    try:
        yield stream
    finally:
        patch.undo()


def test_resharding_mid_run_refreshes_the_shard_map_and_loses_nothing(
    aws_client: Callable[[str], Any], aws_like_resharding: str
) -> None:
    kinesis = aws_client("kinesis")
    stream = aws_like_resharding
    metrics = InMemoryMetrics()
    config = ProducerConfig(max_buffer_time=0.01, shard_map_refresh_interval=0.0)
    with EventProducer(stream, client=kinesis, config=config, metrics=metrics) as producer:
        futures = [
            producer.put({"type": "t", "data": {"n": i}}, partition_key=f"user-{i % 101}")
            for i in range(3000)
        ]
        producer.flush(timeout=60)
        kinesis.update_shard_count(
            StreamName=stream, TargetShardCount=8, ScalingType="UNIFORM_SCALING"
        )
        kinesis.get_waiter("stream_exists").wait(
            StreamName=stream, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100}
        )
        futures += [
            producer.put({"type": "t", "data": {"n": i}}, partition_key=f"user-{i % 101}")
            for i in range(3000, 9000)
        ]
        producer.flush(timeout=60)
        shards_after = producer.shard_ids
    assert all(f.exception(timeout=60) is None for f in futures)
    open_shards = {
        s["ShardId"]
        for s in kinesis.list_shards(StreamName=stream)["Shards"]
        if "EndingSequenceNumber" not in s["SequenceNumberRange"]
    }
    assert len(open_shards) == 8 and set(shards_after) == open_shards
    assert metrics.counter(Metric.SHARD_MAP_REFRESHES) >= 1
    records = read_stream(kinesis, stream)
    assert set(_numbers(records)) == set(range(9000))  # nothing lost
    # Re-sent misplaced records are the only duplicates, and a KCL consumer (which drops
    # records outside its shard's range) sees every event exactly once, in order per key.
    duplicates = len(records) - 9000
    assert duplicates == metrics.counter(Metric.MISPLACED_RECORDS)
    seen = kcl_view(kinesis, stream, records)
    assert sorted(_numbers(seen)) == list(range(9000))
    _assert_per_key_order(seen)
    assert {f.result().shard_id for f in futures[-1000:]} <= open_shards
