"""KCL processor throughput: through the multilang protocol vs the same work in-process.

Both sides run the real processor (``consumers.kcl``): KPL-aggregated events as the daemon
delivers them (de-aggregated, with sub-sequence numbers), decoding, the S3 sink (Parquet,
a flush every 5,000 events, to the embedded emulator in its own process), checkpoints.

* in-process: amazon_kclpy's message objects dispatched straight to the processor;
* protocol: ``python -m consumers.kcl`` as a child fed over pipes by a scripted daemon
  (messages pre-encoded, as the Java daemon would send them), checkpoints answered.

The ratio is the cost of the protocol (JSON lines, base64, pipes, the checkpoint
round-trips) relative to the processing itself.
"""

from __future__ import annotations

import base64
import json
import resource
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from amazon_kclpy import messages

from consumers.kcl.factory import build_processor
from consumers.kcl.testing import ScriptedDaemon
from consumers.sink import SinkConfig
from shardflow import aws, envelope, kpl
from shardflow_tools.bootstrap import BootstrapSpec, BucketSpec, bootstrap
from shardflow_tools.emulator import EmulatorProcess

EVENTS = 20_000
PER_AGGREGATE = 10
RECORDS_PER_BATCH = 1_000
ROUNDS = 3
SINK_RECORDS = 5_000
#: issue 13: in-process / protocol at most this, in CPU time per event.
KCL_TARGET = 1.1


def _batches() -> list[list[dict[str, Any]]]:
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    records: list[dict[str, Any]] = []
    for agg in range(EVENTS // PER_AGGREGATE):
        key = f"user-{agg % 97}"
        events = [
            envelope.encode(
                envelope.build(
                    {"type": "page_view", "data": {"agg": agg, "i": i, "path": "/p" * 40}},
                    default_source="bench",
                )
            )
            for i in range(PER_AGGREGATE)
        ]
        for user in kpl.deaggregate(kpl.aggregate([(key, e) for e in events])):
            records.append(
                {
                    "action": "record",
                    "data": base64.b64encode(user.data).decode(),
                    "partitionKey": user.partition_key,
                    "sequenceNumber": str(1_000_000 + agg),
                    "subSequenceNumber": user.sub_sequence_number,
                    "approximateArrivalTimestamp": now_ms,
                }
            )
    return [records[i : i + RECORDS_PER_BATCH] for i in range(0, len(records), RECORDS_PER_BATCH)]


class _AcceptingCheckpointer:
    def checkpoint(self, sequence_number: str | None = None, sub: int | None = None) -> None:
        del sequence_number, sub


def _in_process(
    batches: list[list[dict[str, Any]]], shard: str, env: dict[str, str], s3: Any
) -> tuple[float, float]:
    """(wall, CPU) seconds of the batches but the first through the processor in this
    process."""
    processor = build_processor(
        env, s3_client=s3, sink_config=SinkConfig.from_env(max_records=SINK_RECORDS)
    )
    cp = _AcceptingCheckpointer()
    init = {"action": "initialize", "shardId": shard, "sequenceNumber": "TRIM_HORIZON",
            "subSequenceNumber": 0}  # fmt: skip
    messages.InitializeInput(init).dispatch(cp, processor)
    start, cpu = time.perf_counter(), time.process_time()
    for i, batch in enumerate(batches):
        msg = {"action": "processRecords", "millisBehindLatest": 0,
               "records": [messages.Record(r) for r in batch]}  # fmt: skip
        messages.ProcessRecordsInput(msg).dispatch(cp, processor)
        if i == 0:
            # The first batch (the takeover, first use of everything) is not measured,
            # as in the protocol's run (see main).
            start, cpu = time.perf_counter(), time.process_time()
    messages.ShutdownRequestedInput({"action": "shutdownRequested"}).dispatch(cp, processor)
    return time.perf_counter() - start, time.process_time() - cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _through_protocol(
    batches: list[list[dict[str, Any]]], shard: str, env: dict[str, str]
) -> tuple[float, float]:
    """(wall, CPU) seconds of the batches through a ``python -m consumers.kcl`` child: its
    CPU time as the kernel counts it once it has exited, start-up included (see
    :func:`main`, which subtracts a run of the first batch alone)."""
    lines = [
        json.dumps({"action": "processRecords", "millisBehindLatest": 0, "records": b}).encode()
        + b"\n"
        for b in batches
    ]
    cpu = _children_cpu()
    with ScriptedDaemon(env=env, timeout=120) as daemon:
        daemon.initialize(shard)
        start = time.perf_counter()
        for line in lines:
            daemon.exchange(line, action="processRecords")
        daemon.shutdown_requested()
        wall = time.perf_counter() - start
    return wall, _children_cpu() - cpu


def main() -> None:
    """Print events/s of both paths and their ratio."""
    with EmulatorProcess() as emu:
        # The processors' configuration, as the daemon passes it down (the child's
        # environment; read from this mapping in-process).
        env = {
            "AWS_ENDPOINT_URL": emu.endpoint_url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1",
            "SHARDFLOW_STREAM": "bench",
            "SHARDFLOW_BUCKET": "bench-kcl",
            "SHARDFLOW_SINK_MAX_RECORDS": str(SINK_RECORDS),
            "SHARDFLOW_LOG_LEVEL": "WARNING",
        }
        s3 = aws.client("s3", endpoint_url=emu.endpoint_url)
        bootstrap(BootstrapSpec(key=None, buckets=(BucketSpec("bench-kcl"),)), clients={"s3": s3})
        batches = _batches()
        local: list[tuple[float, float]] = []
        piped: list[tuple[float, float]] = []
        idle: list[float] = []
        for rnd in range(ROUNDS):
            local.append(_in_process(batches, f"shardId-local-{rnd}", env, s3))
            piped.append(_through_protocol(batches, f"shardId-piped-{rnd}", env))
            # The child's start-up, first batch and shutdown alone, to subtract from its
            # CPU time: what is left is the batches after the first, as measured
            # in-process (the first pays for imports such as pyarrow's, and the takeover).
            idle.append(_through_protocol(batches[:1], f"shardId-idle-{rnd}", env)[1])
    start_up = statistics.median(idle)
    measured = EVENTS - len(batches[0])
    lo_wall = statistics.median(measured / w for w, _ in local)
    pi_wall = statistics.median(EVENTS / w for w, _ in piped)
    lo_cpu = statistics.median(measured / c for _, c in local)
    pi_cpu = statistics.median(measured / max(c - start_up, 1e-9) for _, c in piped)
    ratio = lo_cpu / pi_cpu
    print(
        f"kcl in-process (decode + sink, {EVENTS} events): {lo_cpu:,.0f} events/s per core"
        f"  {lo_wall:,.0f} events/s wall"
    )
    print(
        f"kcl through the multilang protocol over pipes: {pi_cpu:,.0f} events/s per core of the"
        f" child (start-up + first batch, {start_up * 1000:.0f} ms CPU, subtracted)"
        f"  {pi_wall:,.0f} events/s wall"
    )
    print(
        f"kcl protocol overhead: in-process / protocol = {ratio:.2f}x per core, "
        f"{lo_wall / pi_wall:.2f}x wall (median of {ROUNDS}; target <= {KCL_TARGET:.1f}x per"
        f" core: {'met' if ratio <= KCL_TARGET else 'NOT met'})"
    )
