"""The Iceberg output: decode + Iceberg sink throughput, commit latency, and the commits per
second one table's catalog sustains (the budget docs/iceberg.md quotes).

``python -m bench iceberg`` (or ``python -m bench.iceberg --events N --commits C --shards S``)

Against the emulator's S3 in a child process and a SQL catalog on a SQLite file in a
temporary directory (the local set-up). Lines:

* decode + iceberg sink: ``decode`` of KPL aggregates (100 events each) + the Iceberg writer,
  one flush (Parquet data files in S3 and one commit); events/s per core (this process' CPU)
  and wall;
* commit latency: one writer flushing ``--flush`` events at a time: p50/p95 of a flush
  (data files + the check-and-append) and commits/s;
* contention: ``--shards`` writers (threads, one shard each) committing to one table at
  once: commits/s in total, and how many attempts lost the race and checked again.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from consumers import Event, KinesisRecord, SinkConfig, decode
from consumers.sink.iceberg import IcebergConfig, IcebergSink
from consumers.sink.iceberg import commit as iceberg_commit
from shardflow import aws, envelope, kpl, settings
from shardflow_tools.bootstrap import BootstrapSpec, BucketSpec, bootstrap
from shardflow_tools.emulator import EmulatorProcess

STREAM = "bench-stream"
PER_AGGREGATE = 100
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def _records(n_events: int, shard: str) -> list[KinesisRecord]:
    out = []
    for r in range(0, n_events, PER_AGGREGATE):
        raws = []
        for i in range(r, min(r + PER_AGGREGATE, n_events)):
            env = envelope.build(
                {
                    "type": ("page_view", "add_to_cart", "checkout")[i % 3],
                    "data": {"user": f"u-{i % 5000}", "page": f"/p/{i % 977}", "amount": i % 1000},
                },
                default_source="app/checkout",
            )
            raws.append((f"pk-{i}", envelope.encode(env)))
        seq = str(49_600_000_000_000_000_000 + r)
        arrival = T0 + timedelta(milliseconds=r)
        out.append(KinesisRecord(STREAM, shard, seq, "pk", kpl.aggregate(raws), arrival))
    return out


def _events(records: list[KinesisRecord]) -> list[Event]:
    return [e for rec in records for e in decode(rec) if isinstance(e, Event)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.iceberg")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--commits", type=int, default=40)
    parser.add_argument("--flush", type=int, default=100)
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args(argv)

    with EmulatorProcess() as emu, tempfile.TemporaryDirectory() as tmp:
        os.environ[settings.ENDPOINT_URL] = emu.endpoint_url
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
        s3 = aws.client("s3", endpoint_url=emu.endpoint_url)
        bucket = "bench-iceberg"
        bootstrap(BootstrapSpec(key=None, buckets=(BucketSpec(bucket),)), clients={"s3": s3})

        def sink(table: str, max_records: int) -> IcebergSink:
            return IcebergSink(
                bucket,
                stream=STREAM,
                config=SinkConfig(format="iceberg", max_records=max_records),
                iceberg=IcebergConfig(uri=f"sqlite:///{tmp}/catalog.db", table=f"bench.{table}"),
            )

        # Table creation and imports out of the measurements.
        sink("warmup", 10).shard("shard-w").write_batch(_events(_records(10, "shard-w")))

        records = _records(args.events, "shard-0")
        one = sink("throughput", 10_000_000)
        one.table()
        wall, cpu = time.perf_counter(), time.process_time()
        writer = one.shard("shard-0")
        for rec in records:
            for item in decode(rec):
                if isinstance(item, Event):
                    writer.add(item)
        writer.flush()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"decode + iceberg sink: {args.events / cpu:,.0f} events/s per core, "
            f"{args.events / wall:,.0f} events/s wall ({args.events:,} events, one commit)"
        )

        events = _events(_records(args.commits * args.flush, "shard-0"))
        latency = sink("latency", args.flush)
        latency.table()
        writer = latency.shard("shard-0")
        times = []
        for start in range(0, len(events), args.flush):
            t = time.perf_counter()
            for e in events[start : start + args.flush]:
                writer.add(e)
            times.append(time.perf_counter() - t)
        times.sort()
        p95 = times[int(0.95 * (len(times) - 1))]
        print(
            f"commit latency ({args.flush} events per flush, one writer): "
            f"p50 {statistics.median(times) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
            f"{len(times) / sum(times):.1f} commits/s"
        )

        shared = sink("contention", args.flush)
        shared.table()
        lost = [0]
        real = iceberg_commit.TableCommitter._append

        def counting(self: Any, *a: Any) -> Any:
            from pyiceberg.exceptions import CommitFailedException  # noqa: PLC0415

            try:
                return real(self, *a)
            except CommitFailedException:
                lost[0] += 1
                raise

        iceberg_commit.TableCommitter._append = counting  # type: ignore[method-assign]
        per_shard = max(1, args.commits // args.shards)
        batches = {
            f"shard-{s}": _events(_records(per_shard * args.flush, f"shard-{s}"))
            for s in range(args.shards)
        }

        def run(shard: str) -> None:
            w = shared.shard(shard)
            for e in batches[shard]:
                w.add(e)

        threads = [threading.Thread(target=run, args=(s,)) for s in batches]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t
        total = per_shard * args.shards
        print(
            f"contention ({args.shards} shards, one table): {total / elapsed:.1f} commits/s, "
            f"{lost[0]} of {total + lost[0]} attempts lost the race and checked again"
        )
        iceberg_commit.TableCommitter._append = real  # type: ignore[method-assign]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
