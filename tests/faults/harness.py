"""The fault suite's pipeline: producer -> stream -> consumer -> S3, every call through a
:class:`~faultproxy.FaultProxy` in front of the embedded emulator, and the count a user
cares about: every acknowledged event in S3 exactly once (as Athena reads it) or in the
dead-letter queue with its payload; nothing lost, nothing twice.
"""

from __future__ import annotations

import base64
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import orjson
from botocore.config import Config
from faultproxy import FaultProxy
from faulttable import RESULTS, Row
from readback import drain_queue, gzip_jsonl, visible_objects

from consumers.lambda_handler import Clients, HandlerConfig, LambdaConsumer, Observability
from consumers.sink import SinkConfig
from producers import EventProducer, ProducerConfig
from shardflow import kpl
from shardflow_tools.bootstrap import (
    BootstrapReport,
    BootstrapSpec,
    StreamSpec,
    bootstrap,
    checkpoint_table,
)
from shardflow_tools.lambda_esm import EventSourceMappingRunner, MappingConfig, RunnerOptions
from shardflow_tools.lambda_esm.resources import ensure_resources

#: Event types of the mix, with their shares.
TYPES = {"order.created": 5, "order.paid": 3, "page.view": 10, "cart.updated": 2}
#: Partition keys are skewed: key i has weight 1 / (i + 1) (a few hot users).
KEYS = 60
FAST_RUNNER = {
    "poll_interval_seconds": 0.05,
    "shard_sync_interval_seconds": 0.5,
    "retry_backoff_seconds": 0.05,
    "retry_backoff_cap_seconds": 1.0,
}
# botocore's own retries on top of shardflow's: standard mode, as a user would configure.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 5}, connect_timeout=2, read_timeout=20
)


@dataclass
class Produced:
    """What the producer side knows: acknowledged ids, and those reported failed."""

    acknowledged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    #: Ids the consumer's handler must refuse forever (they end in the DLQ).
    poison_ids: set[str] = field(default_factory=set)


def event_mix(count: int, *, seed: int = 11, start: int = 0) -> list[tuple[dict[str, Any], str]]:
    """``count`` events with partition keys: several types, skewed keys."""
    rng = random.Random(seed + start)
    weights = [1 / (i + 1) for i in range(KEYS)]
    types, type_weights = list(TYPES), list(TYPES.values())
    out = []
    for i in range(start, start + count):
        key = f"user-{rng.choices(range(KEYS), weights)[0]}"
        event_type = rng.choices(types, type_weights)[0]
        event = {
            "id": f"evt-{i:07d}",
            "type": event_type,
            "source": "faults/mix",
            "data": {"key": key, "n": i, "amount": rng.randint(1, 500)},
        }
        out.append((event, key))
    return out


class Refuses:
    """A processing function that always fails on chosen ids (a handler bug)."""

    def __init__(self, ids: set[str]) -> None:
        self.ids = ids

    def __call__(self, event: Any) -> None:
        if event.id in self.ids:
            raise ValueError(f"the handler cannot process {event.id}")


@dataclass
class FaultPipeline:
    """The stream, the consumer's resources and clients that go through the proxy."""

    proxy: FaultProxy
    direct: str
    stream: str
    config: HandlerConfig
    checkpoint_table: str
    shards: int
    #: Every dead letter drained so far (a case that accounts after each phase sees all).
    letters: list[dict[str, Any]] = field(default_factory=list)

    def client(self, service: str, *, through_proxy: bool = True) -> Any:
        """A client of ``service``, through the fault proxy or straight to the emulator."""
        url = self.proxy.url if through_proxy else self.direct
        return boto3.client(
            service, endpoint_url=url, region_name="us-east-1", config=CLIENT_CONFIG
        )

    # --- the producer side --------------------------------------------------------------
    def produce(
        self,
        count: int,
        *,
        start: int = 0,
        midway: Callable[[], None] | None = None,
        **config: Any,
    ) -> Produced:
        """Put ``count`` events of the mix through the proxy (calling ``midway`` after half
        of them are put, the producer running); count both outcomes."""
        produced = Produced()
        producer_config = ProducerConfig(max_record_bytes=16 * 1024, **config)
        futures = []
        with EventProducer(
            self.stream, client=self.client("kinesis"), config=producer_config
        ) as producer:
            for i, (event, key) in enumerate(event_mix(count, start=start)):
                if i == count // 2 and midway is not None:
                    midway()
                futures.append((event["id"], producer.put(event, key)))
            producer.flush()
        for event_id, future in futures:
            if future.exception() is None:
                produced.acknowledged.append(event_id)
            else:
                produced.failed.append(event_id)
        return produced

    def put_raw(self, records: list[tuple[bytes, str]]) -> None:
        """Put records as they are (poison the producer would refuse to build)."""
        kinesis = self.client("kinesis", through_proxy=False)
        answer = kinesis.put_records(
            StreamName=self.stream,
            Records=[{"Data": data, "PartitionKey": key} for data, key in records],
        )
        assert answer["FailedRecordCount"] == 0

    # --- the consumer side ---------------------------------------------------------------
    def consumer(self, process: Callable[[Any], Any] | None = None) -> LambdaConsumer:
        """The real Lambda handler, its clients through the proxy."""
        clients = Clients(
            s3=self.client("s3"), sqs=self.client("sqs"), dynamodb=self.client("dynamodb")
        )
        return LambdaConsumer(
            self.config,
            process=process,
            clients=clients,
            observability=Observability(service="faults", namespace="faults"),
        )

    def runner(self, handler: Any, **mapping: Any) -> EventSourceMappingRunner:
        """The local event source mapping, reading the stream through the proxy."""
        return EventSourceMappingRunner(
            self.stream,
            handler,
            config=MappingConfig(**{"batch_size": 100, **mapping}),
            options=RunnerOptions(
                function_name=self.config.function_name,
                checkpoint_table=self.checkpoint_table,
                **FAST_RUNNER,
            ),
            kinesis_client=self.client("kinesis"),
            dynamodb_client=self.client("dynamodb"),
        )

    # --- what came out -------------------------------------------------------------------
    def output_ids(self) -> Counter[str]:
        """Each event id in the output as Athena reads it, with how often it is there."""
        s3 = self.client("s3", through_proxy=False)
        ids: Counter[str] = Counter()
        for key in visible_objects(s3, self.config.bucket):
            body = s3.get_object(Bucket=self.config.bucket, Key=key)["Body"].read()
            ids.update(row["id"] for row in gzip_jsonl(body))
        return ids

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every dead letter (drained), each with its payload."""
        assert self.config.dlq_url is not None
        return drain_queue(self.client("sqs", through_proxy=False), self.config.dlq_url)

    def account(
        self,
        case: str,
        runtime: str,
        produced: Produced,
        *,
        started: float,
        raw_poison: int = 0,
    ) -> Row:
        """Count the outcome, record its row, assert exactly once and nothing lost."""
        output = self.output_ids()
        self.letters += self.dead_letters()
        letters = self.letters
        lettered_ids: list[str] = []
        undecodable = 0
        for letter in letters:
            assert letter.get("payload_base64"), f"dead letter without its payload: {letter}"
            payload = base64.b64decode(letter["payload_base64"])
            try:
                lettered_ids.append(orjson.loads(payload)["id"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                undecodable += 1  # raw poison: not JSON, or a corrupt aggregate
        acknowledged = set(produced.acknowledged)
        duplicates = sum(n - 1 for n in output.values() if n > 1)
        duplicates += sum(n - 1 for n in Counter(lettered_ids).values() if n > 1)
        both = set(output) & set(lettered_ids)
        lost = acknowledged - set(output) - set(lettered_ids)
        row = Row(
            case=case,
            runtime=runtime,
            acknowledged=len(acknowledged) + raw_poison,
            in_s3=sum(output.values()),
            duplicates=duplicates + len(both),
            dead_lettered=len(letters),
            lost=len(lost) + max(0, raw_poison - undecodable),
            recover_seconds=round(time.monotonic() - started, 1),
            injected=dict(self.proxy.injected),
        )
        RESULTS.append(row)
        assert not lost, f"{len(lost)} acknowledged events lost, e.g. {sorted(lost)[:5]}"
        assert duplicates == 0, f"{duplicates} duplicates"
        assert not both, f"in S3 and dead-lettered: {sorted(both)[:5]}"
        assert set(output) <= acknowledged, "an event nobody acknowledged is in the output"
        assert undecodable == raw_poison, f"{undecodable} raw dead letters, {raw_poison} put"
        assert set(lettered_ids) == produced.poison_ids, (
            f"dead-lettered {sorted(set(lettered_ids))[:5]}, expected "
            f"{sorted(produced.poison_ids)[:5]}"
        )
        return row


def make_pipeline(
    proxy: FaultProxy,
    direct: str,
    provision: Callable[..., BootstrapReport],
    unique_name: Callable[[str], str],
    *,
    shards: int = 4,
    max_attempts: int = 2,
) -> FaultPipeline:
    """A fresh stream, bucket, tables and dead-letter queue (created straight, no faults)."""
    stream, table = unique_name("stream"), unique_name("checkpoints")
    provision(StreamSpec(stream, shard_count=shards), checkpoint_table(table))
    direct_clients = {
        s: boto3.client(s, endpoint_url=direct, region_name="us-east-1")
        for s in ("s3", "sqs", "dynamodb")
    }
    config = ensure_resources(
        config=HandlerConfig(
            bucket=unique_name("bucket"),
            sink=SinkConfig(format="jsonl"),
            idempotency_table=None,
            attempts_table=unique_name("attempts"),
            max_attempts=max_attempts,
            function_name=unique_name("fn"),
        ),
        s3_client=direct_clients["s3"],
        sqs_client=direct_clients["sqs"],
        dynamodb_client=direct_clients["dynamodb"],
        dead_letter_queue=unique_name("dlq"),
    )
    return FaultPipeline(proxy, direct, stream, config, table, shards)


def provisioner(endpoint: str) -> Callable[..., BootstrapReport]:
    """``provision`` (tests/conftest.py) for another emulator than the session's."""

    def provision(*specs: Any) -> BootstrapReport:
        spec = BootstrapSpec(
            key=None,
            streams=tuple(s for s in specs if isinstance(s, StreamSpec)),
            tables=tuple(s for s in specs if not isinstance(s, StreamSpec)),
        )
        return bootstrap(spec, endpoint_url=endpoint)

    return provision


def wait_for(condition: Callable[[], bool], what: str, timeout: float) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def corrupt_aggregate(events: list[dict[str, Any]]) -> bytes:
    """A KPL aggregate of ``events`` whose MD5 trailer is wrong."""
    data = kpl.aggregate([(str(i), orjson.dumps(e)) for i, e in enumerate(events)])
    return data[:-1] + bytes([data[-1] ^ 0xFF])
