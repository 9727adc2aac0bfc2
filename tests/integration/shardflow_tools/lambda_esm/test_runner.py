"""The local event source mapping against the emulator's Kinesis, DynamoDB and SQS."""

from __future__ import annotations

import base64
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import orjson
import pytest
from faultproxy import FaultPlan, FaultProxy

from shardflow_tools import bootstrap
from shardflow_tools.bootstrap import BootstrapReport, QueueSpec, StreamSpec
from shardflow_tools.lambda_esm import (
    CheckpointStore,
    EventSourceMappingRunner,
    MappingConfig,
    MappingError,
    RunnerOptions,
    ensure_table,
)
from shardflow_tools.lambda_esm.invoker import Invoker

FAST = {"poll_interval_seconds": 0.05, "shard_sync_interval_seconds": 0.2}
TIMEOUT = 60.0


@dataclass
class Recorder:
    """A handler that records what it saw and fails as told."""

    #: data -> how many more times to fail it (as a batch item failure).
    fail_item: dict[bytes, int] = field(default_factory=dict)
    #: data whose presence in a batch makes the invocation raise (every time).
    raise_on: set[bytes] = field(default_factory=set)
    seen: list[tuple[str, bytes]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        assert context.get_remaining_time_in_millis() > 0
        records = event["Records"]
        with self.lock:
            self.events.append(event)
            datas = [base64.b64decode(r["kinesis"]["data"]) for r in records]
            if self.raise_on.intersection(datas):
                raise RuntimeError("poison in batch")
            for record, data in zip(records, datas, strict=True):
                if self.fail_item.get(data, 0) > 0:
                    self.fail_item[data] -= 1
                    return {
                        "batchItemFailures": [
                            {"itemIdentifier": r["kinesis"]["sequenceNumber"]}
                            for r in records[records.index(record) :]
                        ]
                    }
                self.seen.append((record["kinesis"]["partitionKey"], data))
        return {"batchItemFailures": []}

    def datas(self) -> list[bytes]:
        return [d for _, d in self.seen]


@pytest.fixture
def stream(
    aws_client: Callable[[str], Any],
    unique_name: Callable[[str], str],
    provision: Callable[..., BootstrapReport],
) -> Iterator[str]:
    name = unique_name("stream")
    provision(StreamSpec(name, shard_count=2))
    yield name
    aws_client("kinesis").delete_stream(StreamName=name, EnforceConsumerDeletion=True)


@pytest.fixture
def checkpoint_table(
    unique_name: Callable[[str], str], provision: Callable[..., BootstrapReport]
) -> str:
    name = unique_name("checkpoints")
    provision(bootstrap.checkpoint_table(name))
    return name


def put(kinesis: Any, stream: str, items: list[tuple[str, bytes]]) -> None:
    for start in range(0, len(items), 500):
        chunk = items[start : start + 500]
        resp = kinesis.put_records(
            StreamName=stream,
            Records=[{"PartitionKey": pk, "Data": data} for pk, data in chunk],
        )
        assert resp["FailedRecordCount"] == 0


def keyed(n: int, keys: int = 7, start: int = 0) -> list[tuple[str, bytes]]:
    return [(f"key-{i % keys}", f"r{i:05d}".encode()) for i in range(start, start + n)]


def make_runner(
    stream: str,
    handler: Any,
    checkpoint_table: str,
    aws_client: Callable[[str], Any],
    function_name: str = "fn",
    kinesis_client: Any = None,
    **config: Any,
) -> EventSourceMappingRunner:
    return EventSourceMappingRunner(
        stream,
        handler,
        config=MappingConfig(**config),
        options=RunnerOptions(
            function_name=function_name, checkpoint_table=checkpoint_table, **FAST
        ),
        kinesis_client=kinesis_client or aws_client("kinesis"),
        dynamodb_client=aws_client("dynamodb"),
        sqs_client=aws_client("sqs"),
    )


def in_key_order(seen: list[tuple[str, bytes]]) -> bool:
    per_key: dict[str, list[bytes]] = defaultdict(list)
    for key, data in seen:
        per_key[key].append(data)
    return all(v == sorted(v) for v in per_key.values())


def last_sequence_numbers(kinesis: Any, stream: str) -> dict[str, str]:
    out = {}
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        it = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = kinesis.get_records(ShardIterator=it, Limit=10_000)["Records"]
        if records:
            out[shard["ShardId"]] = records[-1]["SequenceNumber"]
    return out


def test_drains_every_record_once_in_order_and_checkpoints_each_shard_at_its_end(
    stream: str, checkpoint_table: str, aws_client: Callable[[str], Any]
) -> None:
    kinesis = aws_client("kinesis")
    items = keyed(600)
    put(kinesis, stream, items)
    handler = Recorder()
    runner = make_runner(stream, handler, checkpoint_table, aws_client, batch_size=50)
    stats = runner.run(until_drained=True, timeout=TIMEOUT)

    assert sorted(handler.datas()) == sorted(d for _, d in items)
    assert len(handler.datas()) == len(items)
    assert in_key_order(handler.seen)
    assert max(len(e["Records"]) for e in handler.events) == 50
    assert stats.records_completed == len(items)
    assert all(
        {r["eventSourceARN"] for r in e["Records"]} == {e["Records"][0]["eventSourceARN"]}
        and len({r["eventID"].split(":")[0] for r in e["Records"]}) == 1
        for e in handler.events
    ), "a batch holds records of one shard"
    store = CheckpointStore(
        checkpoint_table, consumer="fn", dynamodb_client=aws_client("dynamodb"), owner="t"
    )
    stored = {s: cp.sequence_number for s, cp in store.all().items()}
    assert stored == last_sequence_numbers(kinesis, stream)


def test_partial_failures_retry_from_the_failed_record_without_redelivering_the_prefix(
    stream: str, checkpoint_table: str, aws_client: Callable[[str], Any]
) -> None:
    items = keyed(200)
    put(aws_client("kinesis"), stream, items)
    flaky = {items[10][1]: 2, items[150][1]: 1}
    handler = Recorder(fail_item=dict(flaky))
    stats = make_runner(stream, handler, checkpoint_table, aws_client, batch_size=40).run(
        until_drained=True, timeout=TIMEOUT
    )
    assert sorted(handler.datas()) == sorted(d for _, d in items)  # exactly once
    assert in_key_order(handler.seen)
    assert stats.partial_failures == 3
    # Each retry is a batch that starts at the failed record.
    firsts = [base64.b64decode(e["Records"][0]["kinesis"]["data"]) for e in handler.events]
    assert firsts.count(items[10][1]) >= 2
    assert firsts.count(items[150][1]) >= 1


def test_exhausted_retries_send_the_batch_metadata_to_the_on_failure_queue(
    stream: str,
    checkpoint_table: str,
    aws_client: Callable[[str], Any],
    unique_name: Callable[[str], str],
    provision: Callable[..., BootstrapReport],
) -> None:
    sqs = aws_client("sqs")
    name = unique_name("failures")
    queue = provision(QueueSpec(name)).queue_urls[name]
    items = keyed(60, keys=1)  # one key: one shard
    put(aws_client("kinesis"), stream, items)
    poison = items[20][1]
    handler = Recorder(raise_on={poison})
    runner = make_runner(
        stream,
        handler,
        checkpoint_table,
        aws_client,
        batch_size=10,
        bisect_batch_on_function_error=True,
        maximum_retry_attempts=1,
        on_failure_queue_url=queue,
    )
    stats = runner.run(until_drained=True, timeout=TIMEOUT)
    assert sorted(handler.datas()) == sorted(d for _, d in items if d != poison)
    assert stats.records_discarded == 1
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    body = orjson.loads(messages[0]["Body"])
    info = body["KinesisBatchInfo"]
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["responseContext"]["functionError"] == "Unhandled"
    assert info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"]
    assert info["streamArn"].endswith(f":stream/{stream}")
    account = info["streamArn"].split(":")[4]
    assert (
        body["requestContext"]["functionArn"] == f"arn:aws:lambda:us-east-1:{account}:function:fn"
    )
    poisoned = [
        r
        for e in handler.events
        for r in e["Records"]
        if base64.b64decode(r["kinesis"]["data"]) == poison
    ]
    assert poisoned[0]["kinesis"]["sequenceNumber"] == info["startSequenceNumber"]
    # Every invocation that held the record: the whole batch, the halves, then alone twice.
    assert body["requestContext"]["approximateInvokeCount"] == len(poisoned) >= 3


def test_parallelization_keeps_each_partition_key_in_order(
    stream: str, checkpoint_table: str, aws_client: Callable[[str], Any]
) -> None:
    items = keyed(400, keys=23)
    put(aws_client("kinesis"), stream, items)
    handler = Recorder(fail_item={items[33][1]: 1})
    stats = make_runner(
        stream, handler, checkpoint_table, aws_client, batch_size=25, parallelization_factor=4
    ).run(until_drained=True, timeout=TIMEOUT)
    assert sorted(handler.datas()) == sorted(d for _, d in items)
    assert in_key_order(handler.seen)
    assert stats.invocations >= 4
    for event in handler.events:
        # One lane per partition key: a key's records never split across lanes' batches.
        assert len({r["eventID"].split(":")[0] for r in event["Records"]}) == 1


def test_restart_resumes_after_the_checkpoint_without_loss_or_redelivery(
    stream: str, checkpoint_table: str, aws_client: Callable[[str], Any]
) -> None:
    items = keyed(500, keys=11)
    put(aws_client("kinesis"), stream, items)
    first = Recorder()
    runner = make_runner(
        stream, first, checkpoint_table, aws_client, batch_size=20, parallelization_factor=3
    )
    runner.run(timeout=TIMEOUT, should_stop=lambda: len(first.seen) >= 150)
    assert 150 <= len(first.seen) < len(items)

    second = Recorder()
    make_runner(
        stream, second, checkpoint_table, aws_client, batch_size=20, parallelization_factor=3
    ).run(until_drained=True, timeout=TIMEOUT)
    both = first.datas() + second.datas()
    assert sorted(both) == sorted(d for _, d in items)  # nothing lost, nothing twice
    assert in_key_order(first.seen + second.seen)


def test_a_checkpoint_table_outage_is_ridden_out_not_a_stopped_shard(
    stream: str, checkpoint_table: str, aws_client: Callable[[str], Any], aws_endpoint: str
) -> None:
    """Checkpoint writes throttled past botocore's own retries: the shard retries them (as
    the AWS event source mapping does) instead of stopping; nothing is delivered twice."""
    kinesis = aws_client("kinesis")
    items = keyed(200)
    put(kinesis, stream, items)
    handler = Recorder()
    plan = FaultPlan(fail_next_dynamodb_writes=25)
    with FaultProxy(aws_endpoint, plan) as proxy:
        runner = EventSourceMappingRunner(
            stream,
            handler,
            config=MappingConfig(batch_size=20),
            options=RunnerOptions(function_name="fn", checkpoint_table=checkpoint_table, **FAST),
            kinesis_client=kinesis,
            dynamodb_client=boto3.client(
                "dynamodb", endpoint_url=proxy.url, region_name="us-east-1"
            ),
        )
        runner.run(until_drained=True, timeout=TIMEOUT)
    assert (
        proxy.injected["DynamoDB UpdateItem throttled"]
        + proxy.injected["DynamoDB PutItem throttled"]
        == 25
    )
    assert sorted(handler.datas()) == sorted(d for _, d in items)
    assert len(handler.datas()) == len(items)
    store = CheckpointStore(
        checkpoint_table, consumer="fn", dynamodb_client=aws_client("dynamodb"), owner="t"
    )
    checkpoints = {s: cp.sequence_number for s, cp in store.all().items()}
    assert checkpoints == last_sequence_numbers(kinesis, stream)


def test_a_second_runner_of_the_same_consumer_cannot_move_a_checkpoint(
    stream: str, checkpoint_table: str, aws_client: Callable[[str], Any]
) -> None:
    put(aws_client("kinesis"), stream, keyed(20))
    make_runner(stream, Recorder(), checkpoint_table, aws_client).run(
        until_drained=True, timeout=TIMEOUT
    )
    store = CheckpointStore(
        checkpoint_table, consumer="fn", dynamodb_client=aws_client("dynamodb"), owner="x"
    )
    stale = store.all()
    shard_id, cp = next(iter(stale.items()))
    store.save(cp, sequence_number=cp.sequence_number, lane_marks={}, parallelization_factor=1)
    from shardflow_tools.lambda_esm import CheckpointConflictError

    with pytest.raises(CheckpointConflictError, match=shard_id):
        store.save(cp, sequence_number="1", lane_marks={}, parallelization_factor=1)


def test_resharding_processes_parents_before_children(
    stream: str, checkpoint_table: str, aws_client: Callable[[str], Any]
) -> None:
    kinesis = aws_client("kinesis")
    before = keyed(100, keys=5)
    put(kinesis, stream, before)
    kinesis.update_shard_count(StreamName=stream, TargetShardCount=4, ScalingType="UNIFORM_SCALING")
    kinesis.get_waiter("stream_exists").wait(
        StreamName=stream, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
    )
    after = keyed(100, keys=5, start=100)
    put(kinesis, stream, after)
    handler = Recorder()
    stats = make_runner(stream, handler, checkpoint_table, aws_client, batch_size=30).run(
        until_drained=True, timeout=TIMEOUT
    )
    assert sorted(handler.datas()) == sorted(d for _, d in before + after)
    assert in_key_order(handler.seen)  # a key's old records (parent) before its new ones
    assert stats.shards_ended >= 2


def test_expired_iterator_is_replaced_and_reading_continues(
    stream: str, checkpoint_table: str, aws_client: Callable[[str], Any]
) -> None:
    kinesis = aws_client("kinesis")
    items = keyed(120)
    put(kinesis, stream, items)
    expired = {"left": 2}

    def expire_some(**_: Any) -> Any:
        if expired["left"] > 0:
            expired["left"] -= 1
            http = type("Http", (), {"status_code": 400, "headers": {}})()
            error = {"Code": "ExpiredIteratorException", "Message": "Iterator expired"}
            return http, {"Error": error, "ResponseMetadata": {}}
        return None

    kinesis.meta.events.register("before-call.kinesis.GetRecords", expire_some)
    handler = Recorder()
    make_runner(
        stream, handler, checkpoint_table, aws_client, kinesis_client=kinesis, batch_size=25
    ).run(until_drained=True, timeout=TIMEOUT)
    assert expired["left"] == 0
    assert sorted(handler.datas()) == sorted(d for _, d in items)


class _SkippingClock:
    """The invoker's clock: the real one, plus the time a handler says it spent."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped


def test_an_invocation_over_the_timeout_counts_as_failed(
    stream: str,
    checkpoint_table: str,
    aws_client: Callable[[str], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    put(aws_client("kinesis"), stream, keyed(1, keys=1))
    calls: list[int] = []
    timeout = 30.0
    # The first invocation takes twice the timeout on the invoker's clock, whatever the
    # machine's load; the retry takes no time on it.
    clock = _SkippingClock()
    monkeypatch.setattr(sys.modules[Invoker.__module__], "time", clock)

    def slow_once(event: dict[str, Any], context: Any) -> None:
        calls.append(len(event["Records"]))
        if len(calls) == 1:
            clock.skipped += 2 * timeout

    runner = EventSourceMappingRunner(
        stream,
        slow_once,
        config=MappingConfig(),
        options=RunnerOptions(
            function_name="fn",
            checkpoint_table=checkpoint_table,
            function_timeout_seconds=timeout,
            retry_backoff_seconds=0,
            **FAST,
        ),
        kinesis_client=aws_client("kinesis"),
        dynamodb_client=aws_client("dynamodb"),
    )
    stats = runner.run(until_drained=True, timeout=TIMEOUT)
    assert calls == [1, 1]
    assert stats.failed_invocations == 1


def test_missing_stream_is_a_clear_error(
    checkpoint_table: str, aws_client: Callable[[str], Any], unique_name: Callable[[str], str]
) -> None:
    runner = make_runner(unique_name("nostream"), Recorder(), checkpoint_table, aws_client)
    with pytest.raises(MappingError, match="not found"):
        runner.run(until_drained=True, timeout=TIMEOUT)


def test_latest_and_at_timestamp_start_where_asked(
    stream: str, aws_client: Callable[[str], Any], unique_name: Callable[[str], str]
) -> None:
    from datetime import UTC, datetime

    kinesis = aws_client("kinesis")
    put(kinesis, stream, keyed(20, start=0))
    time.sleep(1.1)  # arrival timestamps have millisecond precision; keep them apart
    boundary = datetime.now(UTC)
    time.sleep(0.1)
    put(kinesis, stream, keyed(20, start=20))

    at = Recorder()
    table = unique_name("checkpoints")
    ensure_table(aws_client("dynamodb"), table)
    make_runner(
        stream,
        at,
        table,
        aws_client,
        starting_position="AT_TIMESTAMP",
        starting_position_timestamp=boundary,
    ).run(until_drained=True, timeout=TIMEOUT)
    assert sorted(at.datas()) == [d for _, d in keyed(20, start=20)]

    latest = Recorder()
    table = unique_name("checkpoints")
    ensure_table(aws_client("dynamodb"), table)
    runner = make_runner(stream, latest, table, aws_client, starting_position="LATEST")
    done = threading.Event()
    thread = threading.Thread(
        target=lambda: runner.run(timeout=TIMEOUT, should_stop=done.is_set), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + TIMEOUT
    while not runner.drained() and time.monotonic() < deadline:  # iterators at the tip
        time.sleep(0.05)
    put(kinesis, stream, keyed(5, start=40))
    while len(latest.seen) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    done.set()
    thread.join(TIMEOUT)
    assert sorted(latest.datas()) == [d for _, d in keyed(5, start=40)]


def test_throttled_get_records_backs_off_and_continues(
    stream: str, checkpoint_table: str, aws_client: Callable[[str], Any]
) -> None:
    kinesis = aws_client("kinesis")
    items = keyed(50)
    put(kinesis, stream, items)
    throttled = {"left": 3}

    def throttle(**_: Any) -> Any:
        if throttled["left"] > 0:
            throttled["left"] -= 1
            http = type("Http", (), {"status_code": 400, "headers": {}})()
            error = {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded"}
            return http, {"Error": error, "ResponseMetadata": {}}
        return None

    kinesis.meta.events.register("before-call.kinesis.GetRecords", throttle)
    handler = Recorder()
    make_runner(stream, handler, checkpoint_table, aws_client, kinesis_client=kinesis).run(
        until_drained=True, timeout=TIMEOUT
    )
    assert throttled["left"] == 0
    assert sorted(handler.datas()) == sorted(d for _, d in items)


def test_missing_checkpoint_table_stops_with_a_clear_error(
    stream: str, aws_client: Callable[[str], Any], unique_name: Callable[[str], str]
) -> None:
    put(aws_client("kinesis"), stream, keyed(5))
    table = unique_name("nosuchtable")
    runner = make_runner(stream, Recorder(), table, aws_client)
    with pytest.raises(MappingError, match=table) as info:
        runner.run(until_drained=True, timeout=TIMEOUT)
    assert "ResourceNotFoundException" in str(info.value)


def test_throttled_or_failing_get_shard_iterator_is_retried(
    stream: str, checkpoint_table: str, aws_endpoint: str, aws_client: Callable[[str], Any]
) -> None:
    # GetShardIterator has its own limit (5 calls a second per shard): at start, and when an
    # expired iterator is replaced, a throttled or failed call is retried, as for GetRecords.
    from botocore.config import Config

    from shardflow import aws

    kinesis = aws.client(
        "kinesis", endpoint_url=aws_endpoint, config=Config(retries={"total_max_attempts": 1})
    )
    items = keyed(40)
    put(kinesis, stream, items)
    codes = iter(
        ["LimitExceededException", "ProvisionedThroughputExceededException", "InternalFailure"] * 2
    )
    refused = []

    def refuse(**_: Any) -> Any:
        code = next(codes, None)
        if code is None:
            return None
        refused.append(code)
        http = type("Http", (), {"status_code": 400, "headers": {}})()
        return http, {"Error": {"Code": code, "Message": "refused"}, "ResponseMetadata": {}}

    kinesis.meta.events.register("before-call.kinesis.GetShardIterator", refuse)
    handler = Recorder()
    make_runner(stream, handler, checkpoint_table, aws_client, kinesis_client=kinesis).run(
        until_drained=True, timeout=TIMEOUT
    )
    assert len(refused) == 6
    assert sorted(handler.datas()) == sorted(d for _, d in items)
