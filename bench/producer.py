"""Producer throughput: shardflow's EventProducer against the baselines issue 2 names.

The same events for every measurement: ``shardflow_tools.samples`` shop events, 453-491 bytes
as serialised envelopes, 5,000 users as partition keys.

1. CPU path, no network: serialise + aggregate + batch. Ours is the real EventProducer
   (its sender threads included) with a client that answers PutRecords in-process
   (``producers.testing.InMemoryKinesis(store=False)``). The baselines feed
   ``aws_kinesis_agg.RecordAggregator`` and group its aggregates into PutRecords calls of
   500 entries / 5 MiB to the same client: once with ``json.dumps`` (what its users
   typically write) and once with ``orjson.dumps`` (our serialiser). Both baselines build
   the envelope with ``shardflow.envelope.build``, the cheapest way to get the same bytes,
   so they pay no more for ids and timestamps than we do. One more row puts the same events
   with an ``id`` and ``time`` of their own: the envelope the producer is given is checked
   by the consumers' rules (``time`` parsed), which events it fills in itself skip.
   Rates are events per CPU-second
   of the whole process (all threads): "per core". Each side runs ``ROUNDS`` times,
   interleaved; the best round counts.
2. End to end into the embedded emulator (moto in a child process, so it does not share
   our GIL), 4 shards: our producer vs a plain boto3 ``put_records`` loop of 500-record
   batches of the same serialised events. The emulator enforces no shard limits, so the
   producer's client-side pacing (AWS shard limits) is off for the headline number and
   shown on for reference.

``python -m bench producer`` (or ``python -m bench.producer --events N``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from aws_kinesis_agg.aggregator import RecordAggregator

from producers import EventProducer, InMemoryMetrics, Metric, ProducerConfig
from producers.testing import InMemoryKinesis
from shardflow import aws, envelope
from shardflow_tools.bootstrap import BootstrapSpec, StreamSpec, bootstrap
from shardflow_tools.emulator import EmulatorProcess
from shardflow_tools.samples import sample_events

CPU_EVENTS = 200_000
E2E_EVENTS_OURS = 100_000
E2E_EVENTS_BASELINE = 20_000
# Long enough that the token buckets' one-second burst does not flatter the paced rate.
E2E_EVENTS_PACED = 60_000
ROUNDS = 3
SHARDS = 4
MIB = 1024 * 1024

#: The CPU path: no pacing (the null client is not a shard), a buffer for the whole run.
CPU_CONFIG = ProducerConfig(
    shard_records_per_second=None, shard_bytes_per_second=None, max_buffer_bytes=512 * MIB
)
E2E_UNPACED = ProducerConfig(shard_records_per_second=None, shard_bytes_per_second=None)
E2E_PACED = ProducerConfig()

Events = list[tuple[dict[str, Any], str]]


@dataclass
class Measure:
    """One timed run."""

    events: int
    cpu: float
    wall: float

    @property
    def per_core(self) -> float:
        return self.events / self.cpu

    @property
    def per_wall(self) -> float:
        return self.events / self.wall


def _timed(events: int, fn: Callable[[], None]) -> Measure:
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return Measure(events, time.process_time() - cpu, time.perf_counter() - wall)


def _null_kinesis() -> InMemoryKinesis:
    fake = InMemoryKinesis(store=False)
    fake.create_stream("bench", SHARDS)
    return fake


# ----------------------------------------------------------------------------- CPU path


def ours_put(events: Events) -> Callable[[], None]:
    def run() -> None:
        metrics = InMemoryMetrics()
        producer = EventProducer(
            "bench", client=_null_kinesis(), config=CPU_CONFIG, metrics=metrics
        )
        put = producer.put
        for event, key in events:
            put(event, key)
        producer.close()
        assert metrics.counter(Metric.USER_RECORDS_PUT) == len(events)

    return run


def ours_put_many(events: Events, chunk: int = 1000) -> Callable[[], None]:
    def run() -> None:
        metrics = InMemoryMetrics()
        producer = EventProducer(
            "bench", client=_null_kinesis(), config=CPU_CONFIG, metrics=metrics
        )
        for i in range(0, len(events), chunk):
            producer.put_many(events[i : i + chunk])
        producer.close()
        assert metrics.counter(Metric.USER_RECORDS_PUT) == len(events)

    return run


def _with_own_id_and_time(events: Events) -> Events:
    """The same events carrying their own ``id`` and ``time`` (what an application that
    assigns ids itself sends): the producer checks both."""
    base = 1_764_165_600_000  # 2025-11-26T14:00:00Z
    return [
        ({**event, "id": f"evt-{i:08d}", "time": envelope.format_time(base + i)}, key)
        for i, (event, key) in enumerate(events)
    ]


def baseline(events: Events, dumps: Callable[[Any], bytes]) -> Callable[[], None]:
    """What an application does with ``aws_kinesis_agg``: aggregate, batch, PutRecords."""

    def run() -> None:
        client = _null_kinesis()
        aggregator = RecordAggregator()
        batch: list[dict[str, Any]] = []
        batch_bytes = 0
        users = 0

        def send(record: Any) -> None:
            nonlocal batch, batch_bytes
            pk, ehk, data = record.get_contents()
            size = len(data) + len(pk)
            if len(batch) == 500 or batch_bytes + size > 5 * MIB:
                client.put_records(StreamName="bench", Records=batch)
                batch, batch_bytes = [], 0
            entry = {"Data": data, "PartitionKey": pk}
            if ehk:
                entry["ExplicitHashKey"] = ehk
            batch.append(entry)
            batch_bytes += size

        for event, key in events:
            data = dumps(envelope.build(event, default_source="shardflow"))
            full = aggregator.add_user_record(key, data)
            users += 1
            if full is not None:
                send(full)
        last = aggregator.clear_and_get()
        if last is not None:
            send(last)
        if batch:
            client.put_records(StreamName="bench", Records=batch)
        assert users == len(events)

    return run


def _json_dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def cpu_path(events: Events, own: Events) -> dict[str, Measure]:
    runs: dict[str, Callable[[], None]] = {
        "ours put": ours_put(events),
        "ours put_many": ours_put_many(events),
        "ours put own id+time": ours_put(own),
        "agg+json": baseline(events, _json_dumps),
        "agg+orjson": baseline(events, orjson.dumps),
    }
    best: dict[str, Measure] = {}
    for _ in range(ROUNDS):
        for name, fn in runs.items():
            m = _timed(len(events), fn)
            if name not in best or m.per_core > best[name].per_core:
                best[name] = m
    return best


# ----------------------------------------------------------------------------- end to end


def _create_stream(kinesis: Any) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    spec = BootstrapSpec(key=None, streams=(StreamSpec(name, shard_count=SHARDS),))
    bootstrap(spec, clients={"kinesis": kinesis})
    return name


def e2e_ours(kinesis: Any, events: Events, config: ProducerConfig) -> Measure:
    stream = _create_stream(kinesis)
    metrics = InMemoryMetrics()

    def run() -> None:
        with EventProducer(stream, client=kinesis, config=config, metrics=metrics) as producer:
            for event, key in events:
                producer.put(event, key)

    measure = _timed(len(events), run)
    assert metrics.counter(Metric.USER_RECORDS_PUT) == len(events)
    return measure


def e2e_baseline(kinesis: Any, events: Events) -> Measure:
    stream = _create_stream(kinesis)
    payloads = [
        (orjson.dumps(envelope.build(event, default_source="shardflow")), key)
        for event, key in events
    ]

    def run() -> None:
        for i in range(0, len(payloads), 500):
            batch = [{"Data": data, "PartitionKey": key} for data, key in payloads[i : i + 500]]
            answer = kinesis.put_records(StreamName=stream, Records=batch)
            assert answer["FailedRecordCount"] == 0

    return _timed(len(events), run)


# ----------------------------------------------------------------------------- report


def _sizes(events: Events) -> tuple[int, int]:
    sizes = [len(orjson.dumps(envelope.build(e, default_source="shardflow"))) for e, _ in events]
    return min(sizes), max(sizes)


def _events(count: int) -> Events:
    return list(sample_events(count))


def report_cpu(events: Events, own: Events) -> None:
    low, high = _sizes(events[:20_000])
    print(
        f"producer CPU path: {len(events):,} events of {low}-{high} bytes, 5,000 partition "
        f"keys, {SHARDS} shards, in-process PutRecords (no network), best of {ROUNDS} rounds, "
        f"{os.cpu_count()} CPUs"
    )
    best = cpu_path(events, own)
    width = 34
    labels = {
        "ours put": "shardflow EventProducer.put",
        "ours put_many": "shardflow EventProducer.put_many",
        "ours put own id+time": "shardflow put, own id and time",
        "agg+json": "aws_kinesis_agg + json.dumps",
        "agg+orjson": "aws_kinesis_agg + orjson.dumps",
    }
    for name, label in labels.items():
        m = best[name]
        print(
            f"  {label:<{width}} {m.per_core:>10,.0f} events/s per core "
            f"({m.per_wall:,.0f} events/s wall)"
        )
    for ours in ("ours put", "ours put_many"):
        for base in ("agg+json", "agg+orjson"):
            ratio = best[ours].per_core / best[base].per_core
            print(f"  ratio {labels[ours]} / {labels[base]}: {ratio:.2f}x (target >= 4x)")
    top = max(best["ours put"].per_core, best["ours put_many"].per_core)
    verdict = "met" if top >= 200_000 else "NOT met"
    print(f"  target >= 200,000 events/s per core: {verdict} (best {top:,.0f})")


def report_e2e(events: Events) -> None:
    print(
        f"producer end to end: embedded emulator (moto, child process), {SHARDS} shards; "
        f"ours {E2E_EVENTS_OURS:,} events ({E2E_EVENTS_PACED:,} paced), baseline "
        f"{E2E_EVENTS_BASELINE:,} (the same events)"
    )
    with EmulatorProcess() as emulator:
        kinesis = aws.client("kinesis", endpoint_url=emulator.endpoint_url)
        base = e2e_baseline(kinesis, events[:E2E_EVENTS_BASELINE])
        ours = e2e_ours(kinesis, events[:E2E_EVENTS_OURS], E2E_UNPACED)
        paced = e2e_ours(kinesis, events[:E2E_EVENTS_PACED], E2E_PACED)
    rows = [
        ("boto3 put_records loop, 500 per call", base, ""),
        ("shardflow EventProducer (KPL aggregation, no pacing)", ours, ""),
        ("shardflow EventProducer (paced at AWS shard limits)", paced, " (4 x 1 MiB/s)"),
    ]
    for label, measure, note in rows:
        print(f"  {label:<58} {measure.per_wall:>10,.0f} events/s{note}")
    ratio = ours.per_wall / base.per_wall
    print(f"  ratio EventProducer / boto3 loop: {ratio:.1f}x (target >= 10x)")


def _iter_args(argv: list[str] | None) -> Iterator[str]:
    yield from argv or []


def main(argv: list[str] | None = None) -> None:
    """Run both parts and print their lines."""
    parser = argparse.ArgumentParser(prog="python -m bench.producer")
    parser.add_argument("--events", type=int, default=CPU_EVENTS, help="events for the CPU path")
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args(list(_iter_args(argv)))
    events = _events(max(args.events, E2E_EVENTS_OURS))
    own = _with_own_id_and_time(events[: args.events])
    # The pre-generated input (hundreds of thousands of dicts) is scaffolding, not work
    # being measured: keep the cyclic GC from re-scanning it during every side's runs.
    gc.collect()
    gc.freeze()
    report_cpu(events[: args.events], own)
    if not args.skip_e2e:
        report_e2e(events)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
