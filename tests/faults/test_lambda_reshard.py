"""The fault table's Lambda row of case 4: shard iterators expire (a consumer idle past
five minutes, simulated by the proxy answering each shard's next GetRecords
``ExpiredIteratorException``) and a shard is split while it is consumed.

moto's own split is not AWS's (records after a split go to the closed parent, which never
ends), so this case runs on the HTTP/2 emulator with the AWS-resharding shim
(:mod:`shardflow_tools.emulator_resharding`), its own process, behind its own proxy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from faultproxy import FaultPlan, FaultProxy
from harness import FaultPipeline, make_pipeline, provisioner, wait_for
from readback import visible_objects

from shardflow_tools.emulator_h2 import Http2EmulatorProcess

RUNTIME = "lambda"
EVENTS = 1500
DRAIN_TIMEOUT = 240.0


@pytest.fixture(scope="module")
def resharding_endpoint() -> Iterator[str]:
    with Http2EmulatorProcess(aws_resharding=True) as emu:
        yield emu.endpoint_url


@pytest.fixture
def resharding_pipeline(
    aws_endpoint: str,  # the process environment's region and credentials
    resharding_endpoint: str,
    unique_name: Callable[[str], str],
) -> Iterator[FaultPipeline]:
    with FaultProxy(resharding_endpoint, FaultPlan()) as proxy:
        yield make_pipeline(
            proxy, resharding_endpoint, provisioner(resharding_endpoint), unique_name, shards=2
        )


def _split(p: FaultPipeline, shard_id: str) -> list[str]:
    """Split ``shard_id`` in the middle of its hash range; the children's ids."""
    kinesis = p.client("kinesis", through_proxy=False)
    shards = kinesis.list_shards(StreamName=p.stream)["Shards"]
    parent = next(s for s in shards if s["ShardId"] == shard_id)
    low = int(parent["HashKeyRange"]["StartingHashKey"])
    high = int(parent["HashKeyRange"]["EndingHashKey"])
    kinesis.split_shard(
        StreamName=p.stream, ShardToSplit=shard_id, NewStartingHashKey=str((low + high) // 2 + 1)
    )
    shards = kinesis.list_shards(StreamName=p.stream)["Shards"]
    return sorted(s["ShardId"] for s in shards if s.get("ParentShardId") == shard_id)


def test_expired_iterators_and_a_split_while_consuming(
    resharding_pipeline: FaultPipeline,
) -> None:
    """Every shard's iterator expires once mid-run, then a shard splits while the producer
    goes on: the consumer resumes after what it read, finishes the parent, reads the
    children; every event exactly once."""
    p = resharding_pipeline
    started = time.monotonic()
    produced = p.produce(EVENTS)
    runner = p.runner(p.consumer(), batch_size=5)
    failures: list[BaseException] = []

    def consume() -> None:
        try:
            runner.run(timeout=DRAIN_TIMEOUT)
        except BaseException as exc:
            failures.append(exc)

    consuming = threading.Thread(target=consume)
    consuming.start()
    try:
        wait_for(lambda: len(p.output_ids()) > 0, "the consumer's first flush", 60)
        p.proxy.plan.expire_iterators = True
        wait_for(lambda: len(p.proxy.expired_shards) >= p.shards, "each iterator expiring", 60)
        parent = p.client("kinesis", through_proxy=False).list_shards(StreamName=p.stream)[
            "Shards"
        ][0]["ShardId"]
        children = _split(p, parent)
        assert len(children) == 2
        more = p.produce(EVENTS, start=EVENTS)
        produced.acknowledged += more.acknowledged
        produced.failed += more.failed
        wanted = set(produced.acknowledged)
        wait_for(
            lambda: wanted <= set(p.output_ids()) or bool(failures),
            "every acknowledged event in S3",
            DRAIN_TIMEOUT,
        )
    finally:
        runner.stop()
        consuming.join()
    assert not failures, f"the consumer stopped: {failures[0]!r}"
    keys = visible_objects(p.client("s3", through_proxy=False), p.config.bucket)
    assert any(child in key for key in keys for child in children), "nothing from a child"
    assert any(parent in key for key in keys)
    p.account("expired iterators + shard split", RUNTIME, produced, started=started)
