"""``shardflow demo``: the main job on one machine, what ``make run`` starts.

Steps (each a function, so later stages of the pipeline slot in between):

1. :func:`start_endpoint` — the endpoint in ``AWS_ENDPOINT_URL`` if set (LocalStack, a
   running ``shardflow local``, AWS), otherwise the embedded emulator as a child process
   on a free port (4566 stays free for ``shardflow local``).
2. :func:`create_stream` — a fresh stream with 4 shards.
3. :func:`produce_sample` — realistic shop events through :class:`producers.EventProducer`.
4. :func:`read_back` — every shard from TRIM_HORIZON with GetRecords, de-aggregated.
5. :func:`summarize` — events sent and read, per shard, duplicates, per-key order, speed.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from shardflow import aws, kpl, settings
from shardflow.cli._progress import Progress

_EXIT_OK = 0
_EXIT_FAILED = 1


def register(sub: Any) -> None:
    """Add the ``demo`` sub-command."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="run the pipeline on the embedded emulator and print a summary",
        description=(
            "Start the embedded emulator (unless AWS_ENDPOINT_URL names an endpoint), create "
            "a stream, produce sample events, read them back and check them."
        ),
    )
    parser.add_argument("--events", type=int, default=20_000, help="events to produce")
    parser.add_argument("--shards", type=int, default=4, help="shards of the demo stream")
    parser.add_argument(
        "--stream", help="stream name (default: a new shardflow-demo-<random> stream)"
    )
    parser.add_argument("--keep", action="store_true", help="do not delete the stream")
    parser.set_defaults(func=run)


@dataclass
class ProduceStats:
    """What the producing step did."""

    sent: int = 0
    failed: int = 0
    seconds: float = 0.0
    kinesis_records: int = 0
    bytes: int = 0
    per_shard: Counter[str] = field(default_factory=Counter)


@dataclass
class ReadStats:
    """What reading the stream back found."""

    kinesis_records: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    per_shard: Counter[str] = field(default_factory=Counter)
    corrupt: int = 0
    seconds: float = 0.0


@contextlib.contextmanager
def start_endpoint() -> Iterator[str]:
    """The configured endpoint, or the embedded emulator in a child process for the block."""
    configured = settings.endpoint_url()
    if configured:
        yield configured
        return
    from shardflow.emulator import EmulatorProcess  # noqa: PLC0415 - needs the "local" extra

    print("starting the embedded emulator (moto) ...", file=sys.stderr)  # noqa: T201
    with EmulatorProcess() as emulator:
        yield emulator.endpoint_url


def create_stream(kinesis: Any, name: str, shards: int) -> None:
    """Create ``name`` with ``shards`` shards and wait until it is ACTIVE."""
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150}
    )


def produce_sample(kinesis: Any, stream: str, count: int) -> ProduceStats:
    """Send ``count`` sample events through the producer; count what was delivered."""
    from producers import EventProducer, InMemoryMetrics, Metric  # noqa: PLC0415
    from shardflow.samples import sample_events  # noqa: PLC0415

    stats = ProduceStats()
    metrics = InMemoryMetrics()
    started = time.monotonic()
    futures = []
    with (
        EventProducer(stream, client=kinesis, metrics=metrics) as producer,
        Progress("producing", total=count) as progress,
    ):
        for i, (event, key) in enumerate(sample_events(count)):
            futures.append(producer.put(event, partition_key=key))
            if i % 2000 == 0:
                progress.update(metrics.counter(Metric.USER_RECORDS_PUT))
        producer.flush()
        progress.update(metrics.counter(Metric.USER_RECORDS_PUT))
    stats.seconds = time.monotonic() - started
    for future in futures:
        error = future.exception()
        if error is None:
            stats.sent += 1
            stats.per_shard[future.result().shard_id] += 1
        else:
            stats.failed += 1
    stats.kinesis_records = metrics.counter(Metric.KINESIS_RECORDS_PUT)
    stats.bytes = metrics.counter(Metric.BYTES_PUT)
    return stats


def read_back(kinesis: Any, stream: str) -> ReadStats:
    """Read every shard from TRIM_HORIZON until it is drained; de-aggregate KPL records."""
    stats = ReadStats()
    started = time.monotonic()
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        shard_id = shard["ShardId"]
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            for record in page["Records"]:
                stats.kinesis_records += 1
                data = record["Data"]
                try:
                    payloads = (
                        [u.data for u in kpl.deaggregate(data)]
                        if kpl.is_aggregated(data)
                        else [data]
                    )
                except ValueError:
                    stats.corrupt += 1
                    continue
                for payload in payloads:
                    stats.events.append(orjson.loads(payload))
                    stats.per_shard[shard_id] += 1
            # An open shard has no end; an empty page at the tip means "read everything".
            if not page["Records"] and not page.get("MillisBehindLatest"):
                break
            iterator = page.get("NextShardIterator")
    stats.seconds = time.monotonic() - started
    return stats


def summarize(stream: str, produced: ProduceStats, read: ReadStats) -> tuple[list[str], bool]:
    """The summary lines, and whether everything checked out."""
    ids = Counter(event.get("id") for event in read.events)
    duplicates = sum(n - 1 for n in ids.values() if n > 1)
    out_of_order = 0
    last: dict[str, int] = {}
    for event in read.events:  # shard by shard, in sequence order
        data = event.get("data") or {}
        user, seq = data.get("user_id"), data.get("seq")
        if isinstance(user, str) and isinstance(seq, int):
            if seq <= last.get(user, -1):
                out_of_order += 1
            last[user] = seq
    unique = len(ids)
    ok = (
        produced.failed == 0
        and unique == produced.sent
        and duplicates == 0
        and out_of_order == 0
        and read.corrupt == 0
    )
    rate = produced.sent / max(produced.seconds, 1e-9)
    lines = [
        f"stream            {stream}",
        f"events sent       {produced.sent} ({produced.failed} failed) in "
        f"{produced.kinesis_records} Kinesis records, {produced.bytes / 1e6:.1f} MB",
        f"events read       {len(read.events)} ({unique} distinct ids) from "
        f"{read.kinesis_records} Kinesis records",
        "per shard         "
        + ", ".join(f"{shard}: {n}" for shard, n in sorted(read.per_shard.items())),
        f"duplicates        {duplicates}",
        f"order per user    {'kept' if out_of_order == 0 else f'{out_of_order} out of order'}",
        f"produce           {produced.seconds:.2f} s ({rate:,.0f} events/s, paced at the AWS "
        "shard limits of 1 MiB/s and 1,000 records/s per shard)",
        f"read back         {read.seconds:.2f} s",
        f"result            {'OK' if ok else 'PROBLEMS (see above)'}",
    ]
    return lines, ok


def run(args: argparse.Namespace) -> int:
    """Run the demo; exit status 0 when every event came back once and in order."""
    if args.events < 1 or args.shards < 1:
        print("shardflow demo: --events and --shards must be >= 1", file=sys.stderr)  # noqa: T201
        return _EXIT_FAILED
    stream = args.stream or f"shardflow-demo-{uuid.uuid4().hex[:8]}"
    with start_endpoint() as endpoint:
        print(f"endpoint          {endpoint}", file=sys.stderr)  # noqa: T201
        kinesis = aws.client("kinesis", endpoint_url=endpoint)
        create_stream(kinesis, stream, args.shards)
        try:
            produced = produce_sample(kinesis, stream, args.events)
            read = read_back(kinesis, stream)
        finally:
            if not args.keep:
                kinesis.delete_stream(StreamName=stream, EnforceConsumerDeletion=True)
        lines, ok = summarize(stream, produced, read)
    print("\n".join(lines))  # noqa: T201
    return _EXIT_OK if ok else _EXIT_FAILED
