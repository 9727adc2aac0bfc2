"""Property: whatever is put comes out of an independent KPL reader, within the limits.

Random records (unicode partition keys of 1-256 characters, payloads up to the record
limit, optional explicit hash keys) go through the real EventProducer into the in-memory
Kinesis fake; ``aws_kinesis_agg``'s de-aggregator reads what was stored.
"""

from __future__ import annotations

import base64
from typing import Any

from aws_kinesis_agg.deaggregator import iter_deaggregate_records
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producers import EventProducer, ProducerConfig
from producers.testing import InMemoryKinesis
from shardflow.hashing import MAX_HASH_KEY, hash_key

LIMIT = 2048  # a small record limit, so aggregates fill and split often


def _record(draw: Any) -> tuple[str, bytes, str | None]:
    # Mostly short keys and small payloads (aggregates of many records that fill up to the
    # limit), sometimes 256-character unicode keys or payloads close to the record limit.
    key = draw(st.text(min_size=1, max_size=8) | st.text(min_size=1, max_size=256))
    budget = LIMIT - len(key.encode())
    data = draw(st.binary(min_size=50, max_size=300) | st.binary(max_size=max(0, budget)))
    ehk = draw(st.none() | st.none() | st.integers(0, MAX_HASH_KEY).map(str))
    return key, data, ehk


records_strategy = st.lists(st.composite(_record)(), min_size=20, max_size=120)


def _read(kinesis: InMemoryKinesis) -> list[tuple[str, str, bytes, str | None]]:
    out = []
    for stored in kinesis.records("events"):
        boto3_shape = {
            "SequenceNumber": stored.sequence_number,
            "PartitionKey": stored.partition_key,
            "ApproximateArrivalTimestamp": 0,
            "Data": stored.data,
        }
        for user in iter_deaggregate_records([boto3_shape], data_format="Boto3"):
            info = user["kinesis"]
            aggregated = info.get("aggregated", False)
            data = base64.b64decode(info["data"]) if aggregated else info["data"]
            ehk = info.get("explicitHashKey") if aggregated else stored.explicit_hash_key
            out.append((stored.shard_id, info["partitionKey"], data, ehk))
    return out


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(records=records_strategy, shards=st.integers(1, 4), aggregation=st.booleans())
def test_everything_put_is_read_back_by_aws_kinesis_agg_within_the_limits(
    records: list[tuple[str, bytes, str | None]], shards: int, aggregation: bool
) -> None:
    kinesis = InMemoryKinesis()
    kinesis.create_stream("events", shards)
    config = ProducerConfig(
        aggregation=aggregation,
        max_record_bytes=LIMIT,
        max_request_bytes=LIMIT * 3,
        max_batch_records=7,
        max_buffer_time=0.001,
        shard_records_per_second=None,
        shard_bytes_per_second=None,
    )
    with EventProducer("events", client=kinesis, config=config) as producer:
        futures = producer.put_many([(data, pk, ehk) for pk, data, ehk in records])
    assert all(f.exception(timeout=10) is None for f in futures)
    # Every Kinesis record and every call stays within the configured limits.
    for stored in kinesis.records("events"):
        assert len(stored.data) + len(stored.partition_key.encode()) <= LIMIT
    assert max(kinesis.call_sizes) <= 7
    got = _read(kinesis)
    assert sorted((pk, data) for _, pk, data, _ in got) == sorted((pk, d) for pk, d, _ in records)
    # Each record is in the shard owning its hash key, in put order within its shard.
    step = (MAX_HASH_KEY + 1) // shards

    def shard_of(pk: str, ehk: str | None) -> str:
        key = int(ehk) if ehk is not None else hash_key(pk)
        return f"shardId-{min(key // step, shards - 1):012d}"

    expected_by_shard: dict[str, list[tuple[str, bytes, str | None]]] = {}
    for pk, data, ehk in records:
        expected_by_shard.setdefault(shard_of(pk, ehk), []).append((pk, data, ehk))
    got_by_shard: dict[str, list[tuple[str, bytes, str | None]]] = {}
    for shard, pk, data, ehk in got:
        got_by_shard.setdefault(shard, []).append((pk, data, ehk))
    assert {s: [(pk, d) for pk, d, _ in v] for s, v in got_by_shard.items()} == {
        s: [(pk, d) for pk, d, _ in v] for s, v in expected_by_shard.items()
    }
    # Explicit hash keys survive: aws_kinesis_agg reports them for the records that had one.
    for shard, expected in expected_by_shard.items():
        for (_, _, want), (_, _, seen) in zip(expected, got_by_shard[shard], strict=True):
            if want is not None:
                assert seen == want
