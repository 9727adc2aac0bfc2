"""Producer -> Kinesis (emulator) -> GetRecords -> decode -> S3 sink -> DuckDB: every event
once, aggregated records included."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consumers import Event, KinesisRecord, S3Sink, decode, localquery
from producers import EventProducer, ProducerConfig
from shardflow_tools.bootstrap import BootstrapReport, StreamSpec


def _read_shard(kinesis: Any, stream: str, shard_id: str) -> list[KinesisRecord]:
    it = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    out: list[KinesisRecord] = []
    for _ in range(50):  # bounded: a few pages hold every record of this test
        resp = kinesis.get_records(ShardIterator=it, Limit=1000)
        out += [
            KinesisRecord.from_get_records(r, stream=stream, shard_id=shard_id)
            for r in resp["Records"]
        ]
        if not resp["Records"] or resp.get("MillisBehindLatest") == 0:
            break
        it = resp["NextShardIterator"]
    return out


def test_events_from_the_producer_reach_s3_exactly_once(
    aws_client: Callable[[str], Any],
    unique_name: Callable[[str], str],
    provision: Callable[..., BootstrapReport],
    s3: Any,
    bucket: str,
) -> None:
    kinesis = aws_client("kinesis")
    stream = unique_name("stream")
    provision(StreamSpec(stream, shard_count=2))
    with EventProducer(stream, client=kinesis, config=ProducerConfig()) as producer:
        futures = [
            producer.put({"type": f"t{i % 4}", "data": {"i": i}}, partition_key=f"user-{i % 37}")
            for i in range(1500)
        ]
        producer.flush(timeout=60)
    placed = {
        (r.shard_id, r.sequence_number, r.sub_sequence_number)
        for r in (f.result(timeout=60) for f in futures)
    }

    sink = S3Sink(bucket, stream=stream, s3_client=s3)
    aggregated = 0
    decoded: list[Event] = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        records = _read_shard(kinesis, stream, shard["ShardId"])
        events = [e for r in records for e in decode(r) if isinstance(e, Event)]
        aggregated += sum(1 for e in events if e.origin.sub_sequence_number is not None)
        decoded += events
        writer = sink.shard(shard["ShardId"])
        for e in events:
            writer.add(e)
        writer.flush()
    assert len(decoded) == 1500
    assert aggregated > 0  # the producer aggregated (KPL), and we de-aggregated
    assert sorted(e.envelope["data"]["i"] for e in decoded) == list(range(1500))
    # Each event's origin is where the producer says it put it.
    assert {
        (e.origin.shard_id, e.origin.sequence_number, e.origin.sub_sequence_number) for e in decoded
    } == placed

    with localquery.connect_s3(s3, bucket, "events") as con:
        ((rows, ids, types),) = localquery.run(
            con, "SELECT count(*), count(DISTINCT id), count(DISTINCT type) FROM events"
        )[1]
    assert (rows, ids, types) == (1500, 1500, 4)
