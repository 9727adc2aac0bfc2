"""Producer -> stream -> local event source mapping -> Lambda handler -> S3, with failures.

Events are produced with :class:`producers.EventProducer` (KPL-aggregated); the handler is
the real :class:`consumers.lambda_handler.LambdaConsumer` with a processing function that
fails on chosen event ids a number of times; the runner drains the stream.
"""

from __future__ import annotations

import base64
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from readback import drain_queue, jsonl_rows

from consumers.lambda_handler import Clients, HandlerConfig, LambdaConsumer, Observability
from consumers.sink import SinkConfig
from producers import EventProducer, ProducerConfig
from shardflow_tools.bootstrap import BootstrapReport, StreamSpec, checkpoint_table
from shardflow_tools.lambda_esm import (
    CheckpointStore,
    EventSourceMappingRunner,
    MappingConfig,
    RunnerOptions,
)
from shardflow_tools.lambda_esm.resources import ensure_resources

FAST = {
    "poll_interval_seconds": 0.05,
    "shard_sync_interval_seconds": 0.5,
    "retry_backoff_seconds": 0.01,
    "retry_backoff_cap_seconds": 0.05,
}
KEYS = 40


@dataclass
class Flaky:
    """Processing that fails on chosen ids a number of times (forever for poison ids)."""

    fail: dict[str, int] = field(default_factory=dict)
    poison: set[str] = field(default_factory=set)
    done: list[tuple[str, int, str]] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: Any) -> None:
        with self.lock:
            self.calls[event.id] += 1
            if event.id in self.poison:
                raise RuntimeError(f"poison {event.id}")
            if self.fail.get(event.id, 0) > 0:
                self.fail[event.id] -= 1
                raise RuntimeError(f"transient failure of {event.id}")
            data = event.envelope["data"]
            self.done.append((data["key"], data["n"], event.id))


@dataclass
class Pipeline:
    stream: str
    clients: Clients
    config: HandlerConfig
    checkpoint_table: str
    kinesis: Any

    def produce(self, count: int, start: int = 0) -> list[dict[str, Any]]:
        """``count`` events over KEYS partition keys; data carries the key and its counter."""
        sent: list[dict[str, Any]] = []
        # Small aggregates (about 20 events each): many Kinesis records, several batches per
        # shard, so batching, retries and replays cut them differently.
        config = ProducerConfig(max_record_bytes=8 * 1024)
        with EventProducer(self.stream, client=self.kinesis, config=config) as producer:
            for i in range(start, start + count):
                key = f"user-{i % KEYS}"
                event = {
                    "id": f"evt-{i:06d}",
                    "type": "test.click",
                    "data": {"key": key, "n": i // KEYS},
                }
                producer.put(event, partition_key=key)
                sent.append(event)
        return sent

    def runner(self, handler: Any, **config: Any) -> EventSourceMappingRunner:
        return EventSourceMappingRunner(
            self.stream,
            handler,
            config=MappingConfig(**config),
            options=RunnerOptions(
                function_name=self.config.function_name,
                checkpoint_table=self.checkpoint_table,
                **FAST,
            ),
            kinesis_client=self.kinesis,
            dynamodb_client=self.clients.dynamodb,
        )

    def consumer(self, process: Flaky, *, idempotency: bool) -> LambdaConsumer:
        values = {f: getattr(self.config, f) for f in self.config.__dataclass_fields__}
        if not idempotency:
            values["idempotency_table"] = None
        return LambdaConsumer(
            HandlerConfig(**values),
            process=process,
            clients=self.clients,
            observability=Observability(service="pipeline-test", namespace="t"),
        )

    def output(self) -> list[dict[str, Any]]:
        return jsonl_rows(self.clients.s3, self.config.bucket)

    def dead_letters(self) -> list[dict[str, Any]]:
        return drain_queue(self.clients.sqs, self.config.dlq_url)

    def shard_ends(self) -> dict[str, str]:
        """Each shard's last sequence number, read from the stream."""
        ends: dict[str, str] = {}
        for shard in self.kinesis.list_shards(StreamName=self.stream)["Shards"]:
            iterator = self.kinesis.get_shard_iterator(
                StreamName=self.stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                resp = self.kinesis.get_records(ShardIterator=iterator, Limit=10_000)
                if resp["Records"]:
                    ends[shard["ShardId"]] = resp["Records"][-1]["SequenceNumber"]
                if not resp["Records"]:
                    break
                iterator = resp.get("NextShardIterator")
        return ends

    def checkpoints(self) -> dict[str, str | None]:
        store = CheckpointStore(
            self.checkpoint_table,
            consumer=self.config.function_name,
            dynamodb_client=self.clients.dynamodb,
            owner="test",
        )
        return {s: cp.sequence_number for s, cp in store.all().items()}


@pytest.fixture
def pipeline(
    aws_client: Callable[[str], Any],
    unique_name: Callable[[str], str],
    provision: Callable[..., BootstrapReport],
) -> Pipeline:
    kinesis = aws_client("kinesis")
    stream, table = unique_name("stream"), unique_name("checkpoints")
    provision(StreamSpec(stream, shard_count=4), checkpoint_table(table))
    clients = Clients(s3=aws_client("s3"), sqs=aws_client("sqs"), dynamodb=aws_client("dynamodb"))
    config = ensure_resources(
        config=HandlerConfig(
            bucket=unique_name("bucket"),
            sink=SinkConfig(format="jsonl"),
            idempotency_table=unique_name("idem"),
            attempts_table=unique_name("attempts"),
            max_attempts=3,
            function_name=unique_name("fn"),
        ),
        s3_client=clients.s3,
        sqs_client=clients.sqs,
        dynamodb_client=clients.dynamodb,
        dead_letter_queue=unique_name("dlq"),
    )
    return Pipeline(stream, clients, config, table, kinesis)


def ids_by_order(rows: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Per partition key, the events' counters in stream order (shard, sequence, sub)."""
    per_key: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for row in rows:
        data = orjson.loads(row["data"])
        position = (int(row["sequence_number"]), row["sub_sequence_number"] or 0)
        per_key[row["partition_key"]].append((*position, data["n"]))
    return {k: [n for *_, n in sorted(v)] for k, v in per_key.items()}


def test_5000_events_with_failures_reach_s3_exactly_once(pipeline: Pipeline) -> None:
    ids = [e["id"] for e in pipeline.produce(5000)]
    process = Flaky()
    flaky = {ids[i]: 1 + i % 2 for i in range(7, 5000, 250)}  # 20 events, 1-2 failures each
    poison = {ids[i] for i in (100, 1234, 2500, 4999)}
    process.fail, process.poison = dict(flaky), set(poison)

    runner = pipeline.runner(pipeline.consumer(process, idempotency=False), batch_size=100)
    stats = runner.run(until_drained=True, timeout=240)

    rows = pipeline.output()
    written = Counter(row["id"] for row in rows)
    assert set(written) == set(ids) - poison
    assert max(written.values()) == 1, "an event reached S3 twice"
    assert stats.partial_failures >= len(flaky)

    letters = pipeline.dead_letters()
    assert {letter["reason"] for letter in letters} == {"handler_failed"}
    lettered = [orjson.loads(base64.b64decode(m["payload_base64"]))["id"] for m in letters]
    assert sorted(lettered) == sorted(poison)  # each once
    # max_attempts = 3 failures before the dead letter; the environment remembers it, so a
    # retry of its aggregate (failed by a later event) does not run it again.
    assert all(process.calls[i] == 3 for i in poison)

    assert pipeline.checkpoints() == pipeline.shard_ends()

    # Per-key order: processing order and stream order both follow production order. (A
    # retried aggregate processes its events before the failed one again: without an
    # idempotency table processing is at least once, so look at each event's first run.)
    processed: dict[str, list[int]] = defaultdict(list)
    first_runs = {i: (key, n) for key, n, i in reversed(process.done)}
    for key, n, i in process.done:
        if first_runs.pop(i, None) is not None:
            processed[key].append(n)
    assert all(v == sorted(v) for v in processed.values())
    assert all(v == sorted(v) for v in ids_by_order(rows).values())


def test_restart_mid_stream_loses_nothing_and_duplicates_nothing(pipeline: Pipeline) -> None:
    ids = [e["id"] for e in pipeline.produce(400)]
    first = Flaky(fail={ids[50]: 1, ids[300]: 2})
    runner = pipeline.runner(pipeline.consumer(first, idempotency=True), batch_size=25)
    runner.run(timeout=120, should_stop=lambda: len(first.done) >= 150)
    assert 150 <= len(first.done) < 400
    mid_rows = len(pipeline.output())
    assert 0 < mid_rows < 400

    second = Flaky(fail=dict(first.fail))
    runner = pipeline.runner(pipeline.consumer(second, idempotency=True), batch_size=25)
    runner.run(until_drained=True, timeout=120)

    written = Counter(row["id"] for row in pipeline.output())
    assert set(written) == set(ids)
    assert max(written.values()) == 1
    # Idempotency: no event's processing succeeded twice across the two runs.
    succeeded = Counter(i for _, _, i in first.done + second.done)
    assert set(succeeded) == set(ids)
    assert max(succeeded.values()) == 1
    assert pipeline.checkpoints() == pipeline.shard_ends()


def test_crash_between_s3_write_and_checkpoint_duplicates_nothing(pipeline: Pipeline) -> None:
    ids = [e["id"] for e in pipeline.produce(600)]
    first = Flaky()
    runner = pipeline.runner(pipeline.consumer(first, idempotency=False), batch_size=10)
    runner.run(timeout=120, should_stop=lambda: len(first.done) >= 200)
    assert pipeline.output(), "the first run wrote to S3"
    # The crash: every checkpoint of the first run is lost, so the second run replays the
    # shards from the start, in batches cut differently (batch size 7).
    ddb = pipeline.clients.dynamodb
    for shard_id in pipeline.checkpoints():
        ddb.delete_item(
            TableName=pipeline.checkpoint_table,
            Key={"consumer": {"S": pipeline.config.function_name}, "shard_id": {"S": shard_id}},
        )
    second = Flaky()
    pipeline.runner(pipeline.consumer(second, idempotency=False), batch_size=7).run(
        until_drained=True, timeout=120
    )
    written = Counter(row["id"] for row in pipeline.output())
    assert set(written) == set(ids)
    assert max(written.values()) == 1
    assert pipeline.checkpoints() == pipeline.shard_ends()
