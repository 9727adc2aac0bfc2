"""The fault table's producer row: an application gets SIGTERM with a full buffer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
from harness import RESULTS, FaultPipeline, Row, wait_for

from shardflow import kpl

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


def _stream_ids(p: FaultPipeline) -> Counter[str]:
    kinesis = p.client("kinesis", through_proxy=False)
    ids: Counter[str] = Counter()
    for shard in kinesis.list_shards(StreamName=p.stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=p.stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            answer = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            for record in answer["Records"]:
                data = record["Data"]
                users = kpl.deaggregate(data) if kpl.is_aggregated(data) else None
                payloads = [u.data for u in users] if users else [data]
                ids.update(orjson.loads(payload)["id"] for payload in payloads)
            if not answer["Records"]:
                break
            iterator = answer.get("NextShardIterator")
    return ids


def test_producer_sigterm_with_a_full_buffer(fault_pipeline: FaultPipeline, tmp_path: Path) -> None:
    """Every accepted event is acknowledged and in the stream, or reported failed to its
    future: none silently lost."""
    p = fault_pipeline
    p.proxy.plan.put_records_entries = 0.9  # most entries throttled: the buffer fills
    outcomes = tmp_path / "outcomes.txt"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "support"), str(HERE), str(ROOT)]),
    }
    started = time.monotonic()
    app = subprocess.Popen(
        [sys.executable, str(HERE / "producer_app.py"), p.stream, p.proxy.url, str(outcomes)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert app.stdout is not None
        assert app.stdout.readline().strip() == "ready"

        def lines() -> list[str]:
            return outcomes.read_text().splitlines() if outcomes.exists() else []

        wait_for(
            lambda: (
                sum(1 for x in lines() if x.startswith("ack ")) >= 200
                and sum(1 for x in lines() if x.startswith("accepted ")) >= 2000
            ),
            "200 deliveries and 2,000 accepted events",
            120,
        )
        app.send_signal(signal.SIGTERM)
        assert app.wait(timeout=60) == 0
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    p.proxy.plan.clear()
    accepted: list[str] = []
    outcome: dict[str, list[str]] = {}
    for line in lines():
        kind, _, rest = line.partition(" ")
        if kind == "accepted":
            accepted.append(rest)
        elif kind in ("ack", "fail"):
            outcome.setdefault(rest.split(" ")[0], []).append(kind)
    assert lines()[-1] == "closed"
    acked = {i for i, kinds in outcome.items() if kinds == ["ack"]}
    failed = {i for i, kinds in outcome.items() if kinds == ["fail"]}
    in_stream = _stream_ids(p)
    silent = set(accepted) - acked - failed
    RESULTS.append(
        Row(
            case="producer SIGTERM, full buffer",
            runtime="producer",
            acknowledged=len(acked),
            in_s3=len(acked & set(in_stream)),  # in the stream (no consumer in this case)
            duplicates=sum(n - 1 for n in in_stream.values() if n > 1),
            dead_lettered=0,
            lost=len(silent) + len(acked - set(in_stream)),
            recover_seconds=round(time.monotonic() - started, 1),
            injected={**p.proxy.injected, "reported failed to futures": len(failed)},
        )
    )
    assert len(accepted) == len(set(accepted))
    assert all(len(kinds) == 1 for kinds in outcome.values()), "an outcome reported twice"
    assert not silent, f"{len(silent)} accepted events have no outcome: {sorted(silent)[:5]}"
    assert acked <= set(in_stream), (
        f"acknowledged, not in the stream: {sorted(acked - set(in_stream))[:5]}"
    )
    assert failed, "the buffer held nothing at SIGTERM: the case did not happen"
    assert set(in_stream) <= set(accepted)
