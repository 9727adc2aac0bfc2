"""Lambda consumer: the local event source mapping + handler + S3 sink, per event and at init.

``python -m bench lambda`` (or ``python -m bench.lambda_runner --events N --repeat R``)

Everything against the embedded emulator in a child process
(``shardflow_tools.emulator.EmulatorProcess``), so its work is not on this process' CPU:

* **pipeline**: events produced with ``producers.EventProducer`` (KPL-aggregated) into a
  4-shard stream, then ``EventSourceMappingRunner`` + ``consumers.lambda_handler`` (no
  processing function, Parquet) until drained: events/s from the runner's start to the
  last checkpoint. Then, side by side, the same with a processing function (doing nothing)
  under idempotency: powertools per event (``SHARDFLOW_IDEMPOTENCY=event``, two DynamoDB
  writes per event; ``--idempotency-events``) and the batch store (``batch``: one
  ``TransactWriteItems`` per 100 ids, completions in ``BatchWriteItem`` of 25;
  ``--batch-idempotency-events``), each with its ratio to the pipeline (target >= 1/10)
  and the handler's DynamoDB requests per 1,000 events (HTTP requests, retries included,
  counted with a botocore ``before-send`` hook on the handler's client; the runner's
  checkpoints use a client of their own; target <= 50).
* **handler vs bare loop**: the same Lambda events (KPL records of 100 events, 100 records
  per invocation) through the handler (powertools BatchProcessor, decode, sink to S3 as
  gzip JSON Lines) and through a bare loop doing the minimum with the same output (base64,
  de-aggregate, ``orjson.loads``, one gzip JSON Lines ``put_object`` per batch). The ratio
  is the handler's per-event overhead.
* **init**: a fresh interpreter importing ``consumers.lambda_handler`` (what Lambda's init
  phase runs), against one importing only boto3 (what any Python function pays); then the
  first invocation (clients built lazily) against a warm one.

The emulator's DynamoDB transactions are costed and isolated as DynamoDB's are
(:mod:`bench._moto_transactions`: moto copies the whole table per transaction item and races
concurrent transactions, which would measure moto rather than the batch store);
``--plain-moto`` runs moto as it is.

"per core" divides by this process' CPU time, "wall" by elapsed time. Best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import base64
import gc
import gzip
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from shardflow import aws, envelope, kpl
from shardflow_tools.bootstrap import BootstrapSpec, StreamSpec, bootstrap
from shardflow_tools.emulator import EmulatorProcess

STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/{stream}"
PER_AGGREGATE = 100
RECORDS_PER_BATCH = 100
#: issue 13: the handler's CPU time per event at most this many times the bare loop's.
HANDLER_TARGET = 2.0


class _TransactionsEmulator(EmulatorProcess):
    """The emulator with :mod:`bench._moto_transactions` installed in the child."""

    module = "bench._moto_transactions"


class _Context:
    function_name = "bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    memory_limit_in_mb = 1024
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def _envelopes(n: int, offset: int = 0) -> list[bytes]:
    return [
        envelope.encode(
            envelope.build(
                {
                    "type": ("page_view", "add_to_cart", "checkout")[i % 3],
                    "data": {
                        "user": f"u-{i % 5000}",
                        "page": f"/products/{i % 977}",
                        "referrer": "https://example.com/",
                        "amount": (i % 1000) / 10,
                    },
                },
                default_source="bench",
            )
        )
        for i in range(offset, offset + n)
    ]


def _lambda_batches(stream: str, events: int, first_seq: int) -> list[dict[str, Any]]:
    """Lambda events of RECORDS_PER_BATCH KPL records of PER_AGGREGATE events each."""
    arn = STREAM_ARN.format(stream=stream)
    raws = _envelopes(events)
    records = []
    for i, start in enumerate(range(0, len(raws), PER_AGGREGATE)):
        seq = str(first_seq + i)
        data = kpl.aggregate([(f"pk-{j}", r) for j, r in enumerate(raws[start : start + 100])])
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "pk-0",
                    "sequenceNumber": seq,
                    "data": base64.b64encode(data).decode(),
                    "approximateArrivalTimestamp": round(time.time(), 3),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{seq}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/bench",
                "awsRegion": "us-east-1",
                "eventSourceARN": arn,
            }
        )
    return [
        {"Records": records[i : i + RECORDS_PER_BATCH]}
        for i in range(0, len(records), RECORDS_PER_BATCH)
    ]


def _timed(
    fn: Callable[[Any], int], repeat: int, setup: Callable[[], Any] = lambda: None
) -> tuple[int, float, float]:
    """(count, wall, cpu) of the run with the least CPU time; ``setup`` (untimed) builds
    each run's input, so generating the test records is not charged to what is measured."""
    best: tuple[int, float, float] | None = None
    for _ in range(repeat):
        given = setup()
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        count = fn(given)
        run = (count, time.perf_counter() - wall, time.process_time() - cpu)
        if best is None or run[2] < best[2]:
            best = run
    assert best is not None
    return best


#: DynamoDB requests per 1,000 events the batch idempotency aims at (issue 13).
TARGET_REQUESTS_PER_1000 = 50
#: Idempotent processing's rate against the pipeline without it (issue 13): >= 1/10.
TARGET_RATIO = 10


class _RequestCounter:
    """Counts the HTTP requests a client sends (``before-send``: each attempt)."""

    def __init__(self, client: Any) -> None:
        self.n = 0
        client.meta.events.register("before-send.dynamodb.*", self._count)

    def _count(self, **_: Any) -> None:
        self.n += 1


def _resources(
    endpoint: str, name: str, *, fmt: str, idempotency: bool, mode: str = "batch"
) -> tuple[Any, Any]:
    from consumers.lambda_handler import Clients, HandlerConfig  # noqa: PLC0415
    from consumers.sink import SinkConfig  # noqa: PLC0415
    from shardflow_tools.lambda_esm.resources import ensure_resources  # noqa: PLC0415

    clients = Clients(
        s3=aws.client("s3", endpoint_url=endpoint),
        sqs=aws.client("sqs", endpoint_url=endpoint),
        dynamodb=aws.client("dynamodb", endpoint_url=endpoint),
    )
    config = ensure_resources(
        config=HandlerConfig(
            bucket=name,
            sink=SinkConfig(format=fmt),  # type: ignore[arg-type]
            idempotency_table=f"{name}-idem" if idempotency else None,
            idempotency_mode=mode,  # type: ignore[arg-type]
            attempts_table=f"{name}-attempts",
            function_name=name,
        ),
        s3_client=clients.s3,
        sqs_client=clients.sqs,
        dynamodb_client=clients.dynamodb,
        dead_letter_queue=f"{name}-dlq",
    )
    return config, clients


def _consumer(config: Any, clients: Any, process: Any = None) -> Any:
    from consumers.lambda_handler import LambdaConsumer, Observability  # noqa: PLC0415

    quiet = Observability(service="bench", namespace="bench", log_level="ERROR", emit_metrics=False)
    return LambdaConsumer(config, clients=clients, observability=quiet, process=process)


def _pipeline(
    endpoint: str, events: int, *, process: Any = None, mode: str = "batch"
) -> tuple[int, float, float, int]:
    """(events, wall seconds, CPU seconds, the handler's DynamoDB requests)."""
    from producers import EventProducer  # noqa: PLC0415
    from shardflow_tools.lambda_esm import (  # noqa: PLC0415
        EventSourceMappingRunner,
        MappingConfig,
        RunnerOptions,
        ensure_table,
    )

    name = f"bench-{uuid.uuid4().hex[:8]}"
    kinesis = aws.client("kinesis", endpoint_url=endpoint)
    bootstrap(
        BootstrapSpec(key=None, streams=(StreamSpec(name, shard_count=4),)),
        clients={"kinesis": kinesis},
    )
    with EventProducer(name, client=kinesis) as producer:
        for i, raw in enumerate(_envelopes(events)):
            producer.put(orjson.loads(raw), partition_key=f"user-{i % 5000}")
    config, clients = _resources(
        endpoint, name, fmt="parquet", idempotency=process is not None, mode=mode
    )
    # The runner's checkpoints on a client of their own: only the handler's calls counted.
    runner_ddb = aws.client("dynamodb", endpoint_url=endpoint)
    ensure_table(runner_ddb, f"{name}-checkpoints")
    requests = _RequestCounter(clients.dynamodb)
    runner = EventSourceMappingRunner(
        name,
        _consumer(config, clients, process),
        config=MappingConfig(batch_size=100),
        options=RunnerOptions(
            function_name=name,
            checkpoint_table=f"{name}-checkpoints",
            poll_interval_seconds=0.05,
            shard_sync_interval_seconds=1.0,
        ),
        kinesis_client=kinesis,
        dynamodb_client=runner_ddb,
    )
    wall, cpu = time.perf_counter(), time.process_time()
    runner.run(until_drained=True, timeout=900)
    return events, time.perf_counter() - wall, time.process_time() - cpu, requests.n


def _bare_loop(s3: Any, bucket: str, batches: list[dict[str, Any]]) -> int:
    """The minimum a handler does with the same records and the same kind of output."""
    n = 0
    for b, event in enumerate(batches):
        rows = []
        for record in event["Records"]:
            data = base64.b64decode(record["kinesis"]["data"])
            payloads = (
                [u.data for u in kpl.deaggregate(data)] if kpl.is_aggregated(data) else [data]
            )
            rows += [orjson.loads(p) for p in payloads]
        body = gzip.compress(b"\n".join(orjson.dumps(r) for r in rows), compresslevel=3)
        s3.put_object(Bucket=bucket, Key=f"bare/{b}.json.gz", Body=body)
        n += len(rows)
    return n


def _print_stages(batches: list[dict[str, Any]], sink_config: Any) -> None:
    """CPU us/event of each stage of the consumer core and of the bare loop, no I/O: what
    the handler's time is made of (the rest is S3 requests, powertools, and the cyclic
    collector's share of each stage). One invocation's records at a time, as the handler
    keeps them."""
    from consumers import Event, KinesisRecord, decode  # noqa: PLC0415
    from consumers.sink import formats  # noqa: PLC0415
    from consumers.sink.buffer import ShardBuffer  # noqa: PLC0415

    core = [0.0] * 4
    bare = [0.0] * 3
    n = 0
    clock = time.process_time
    for event in batches:
        raw = event["Records"]
        gc.collect()
        t0 = clock()
        records = [KinesisRecord.from_lambda(r) for r in raw]
        t1 = clock()
        events = [e for r in records for e in decode(r) if isinstance(e, Event)]
        t2 = clock()
        buf = ShardBuffer(sink_config)
        for e in events:
            buf.append(e, buf.arrival_ms(e))
        t3 = clock()
        for _, columns in buf.items():
            formats.encode_partition(columns, stream="s", shard_id="sh", config=sink_config)
        t4 = clock()
        for i, (a, b) in enumerate(((t0, t1), (t1, t2), (t2, t3), (t3, t4))):
            core[i] += b - a
        n += len(events)
        del records, events, buf
        gc.collect()
        t0 = clock()
        datas = [base64.b64decode(r["kinesis"]["data"]) for r in raw]
        t1 = clock()
        rows = [orjson.loads(u.data) for d in datas for u in kpl.deaggregate(d)]
        t2 = clock()
        gzip.compress(b"\n".join(orjson.dumps(r) for r in rows), compresslevel=3)
        t3 = clock()
        for i, (a, b) in enumerate(((t0, t1), (t1, t2), (t2, t3))):
            bare[i] += b - a
        del datas, rows
    core_us = [t / n * 1e6 for t in core]
    bare_us = [t / n * 1e6 for t in bare]
    print(
        "  stages (CPU us/event, no I/O): core: records {:.2f} | decode {:.2f} | buffer {:.2f}"
        " | encode {:.2f} = {:.2f};  bare: b64 {:.2f} | deaggregate + loads {:.2f} | dumps +"
        " gzip {:.2f} = {:.2f}".format(*core_us, sum(core_us), *bare_us, sum(bare_us))
    )


def _init_times(runs: int) -> tuple[float, float]:
    """Median seconds to import the handler package, and boto3 alone, in fresh interpreters."""

    def measure(code: str) -> float:
        samples = []
        for _ in range(runs):
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
            samples.append(float(out))
        return statistics.median(samples)

    handler = measure(
        "import time; t = time.perf_counter(); import consumers.lambda_handler; "
        "print(time.perf_counter() - t)"
    )
    boto = measure(
        "import time; t = time.perf_counter(); import boto3; print(time.perf_counter() - t)"
    )
    return handler, boto


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print one line per measurement and the ratios."""
    parser = argparse.ArgumentParser(prog="python -m bench.lambda_runner")
    parser.add_argument("--events", type=int, default=100_000, help="events through the pipeline")
    parser.add_argument(
        "--idempotency-events",
        type=int,
        default=1_000,
        help="events through the pipeline with a processing function under powertools' "
        "per-event idempotency (0: skip)",
    )
    parser.add_argument(
        "--batch-idempotency-events",
        type=int,
        default=10_000,
        help="events through the pipeline with a processing function under the batch "
        "idempotency store (0: skip); more than per event, since the runner's fixed start "
        "and drain times weigh on a small stream (1,000 events without idempotency: about "
        "1/30 of the rate of 100,000)",
    )
    parser.add_argument("--handler-events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best)")
    parser.add_argument("--init-runs", type=int, default=5)
    parser.add_argument(
        "--plain-moto",
        action="store_true",
        help="moto's own DynamoDB transactions (a table copy per item, unisolated)",
    )
    args = parser.parse_args([] if argv is None else argv)

    emulator_process = EmulatorProcess() if args.plain_moto else _TransactionsEmulator()
    with emulator_process as emulator:
        endpoint = emulator.endpoint_url
        transactions = (
            "moto's own" if args.plain_moto else "costed as DynamoDB's, conditions parsed once"
        )
        print(
            f"lambda: Kinesis/S3/SQS/DynamoDB = moto in a child process (transactions "
            f"{transactions}); {PER_AGGREGATE} events per KPL record, batch size "
            f"{RECORDS_PER_BATCH} records"
        )

        n, wall, cpu, _ = _pipeline(endpoint, args.events)
        pipeline_rate = n / wall
        print(
            f"  {'pipeline (runner + handler + parquet)':<44} {n / cpu:>9,.0f} events/s per core"
            f"  {pipeline_rate:>9,.0f} events/s wall  ({n:,} events, 4 shards)"
        )

        def process(_event: Any) -> None:
            return None

        for label, mode, count in (
            ("+ processing, idempotency per event", "event", args.idempotency_events),
            ("+ processing, idempotency batch store", "batch", args.batch_idempotency_events),
        ):
            if not count:
                continue
            n_i, wall_i, cpu_i, requests = _pipeline(endpoint, count, process=process, mode=mode)
            rate = n_i / wall_i
            print(
                f"  {label:<44} {n_i / cpu_i:>9,.0f} events/s per core  {rate:>9,.0f} "
                f"events/s wall  ({n_i:,} events; 1/{pipeline_rate / rate:.1f} of the "
                f"pipeline, target >= 1/{TARGET_RATIO}; {requests * 1000 / n_i:,.1f} "
                f"DynamoDB requests per 1,000 events, target <= {TARGET_REQUESTS_PER_1000})"
            )

        config, clients = _resources(
            endpoint, f"bench-h-{uuid.uuid4().hex[:6]}", fmt="jsonl", idempotency=False
        )
        stream = config.bucket
        s3 = clients.s3
        context = _Context()
        seq = [10**12]

        def fresh_batches() -> list[dict[str, Any]]:
            # New positions each run: a replay would be skipped by the manifests.
            batches = _lambda_batches(stream, args.handler_events, seq[0])
            seq[0] += len(batches) * RECORDS_PER_BATCH + 1
            return batches

        def handler_run(batches: list[dict[str, Any]]) -> int:
            consumer = _consumer(config, clients)
            for event in batches:
                response = consumer(event, context)
                assert response == {"batchItemFailures": []}
            return args.handler_events

        same = _lambda_batches(stream, args.handler_events, 1)

        def bare_run(_: None) -> int:
            return _bare_loop(s3, config.bucket, same)

        def core_run(batches: list[dict[str, Any]]) -> int:
            # What the handler does without powertools and its own bookkeeping: the
            # consumer core's decode and sink, on fresh positions each run.
            from consumers import Event, KinesisRecord, S3Sink, decode  # noqa: PLC0415

            sink = S3Sink(config.bucket, stream=stream, s3_client=s3, config=config.sink)
            n = 0
            for event in batches:
                events = [
                    item
                    for record in event["Records"]
                    for item in decode(KinesisRecord.from_lambda(record))
                    if isinstance(item, Event)
                ]
                sink.write_batch("shardId-000000000000", events)
                n += len(events)
            return n

        requests: list[str] = []

        def count_request(**_: Any) -> None:
            requests.append("")

        s3.meta.events.register("before-call.s3", count_request)
        h_n, h_wall, h_cpu = _timed(handler_run, args.repeat, fresh_batches)
        h_requests, requests[:] = len(requests) / args.repeat, []
        c_n, c_wall, c_cpu = _timed(core_run, args.repeat, fresh_batches)
        requests.clear()
        b_n, b_wall, b_cpu = _timed(bare_run, args.repeat)
        b_requests = len(requests) / args.repeat
        s3.meta.events.unregister("before-call.s3", count_request)
        # Per event in CPU time of this process (moto's work is in its own): the machine
        # may be shared, and wall time then measures the neighbours.
        h_us, c_us, b_us = h_cpu / h_n * 1e6, c_cpu / c_n * 1e6, b_cpu / b_n * 1e6
        for label, n, wall, us in (
            ("handler (powertools, decode, sink jsonl)", h_n, h_wall, h_us),
            ("core only (decode + sink.write_batch)", c_n, c_wall, c_us),
            ("bare loop (b64, deaggregate, loads, put)", b_n, b_wall, b_us),
        ):
            print(
                f"  {label:<44} {1e6 / us:>9,.0f} events/s per core  {n / wall:>9,.0f} events/s"
                f" wall  {us:6.2f} us/event (CPU)"
            )
        print(
            f"  handler per-event overhead vs bare loop: {h_us - b_us:+.2f} us/event; of it "
            f"powertools + handler {h_us - c_us:+.2f} us/event, consumer core (validation, "
            f"partitions, manifests) {c_us - b_us:+.2f} us/event"
        )
        print(
            f"  S3 requests per {PER_AGGREGATE * RECORDS_PER_BATCH:,} events (one invocation): "
            f"handler {h_requests / h_n * PER_AGGREGATE * RECORDS_PER_BATCH:.1f} (the fenced "
            f"commit), bare loop {b_requests / b_n * PER_AGGREGATE * RECORDS_PER_BATCH:.1f}"
        )
        print(
            f"  ratios per core: handler / bare loop {h_us / b_us:.2f}x (target <= "
            f"{HANDLER_TARGET:.1f}x: {'met' if h_us / b_us <= HANDLER_TARGET else 'NOT met'}); "
            f"core only / bare loop {c_us / b_us:.2f}x"
        )
        _print_stages(_lambda_batches(stream, args.handler_events, 10**13), config.sink)

        handler_import, boto_import = _init_times(args.init_runs)
        cold_consumer = _consumer(config, _fresh_clients(endpoint))
        first_batch = _lambda_batches(stream, PER_AGGREGATE * 10, 10**15)
        second_batch = _lambda_batches(stream, PER_AGGREGATE * 10, 10**15 + 100)
        t = time.perf_counter()
        cold_consumer(first_batch[0], context)
        first = time.perf_counter() - t
        t = time.perf_counter()
        cold_consumer(second_batch[0], context)
        warm = time.perf_counter() - t
        print(
            f"  init: import consumers.lambda_handler {handler_import * 1000:.0f} ms "
            f"(boto3 alone {boto_import * 1000:.0f} ms, {handler_import / boto_import:.2f}x); "
            f"first invocation {first * 1000:.0f} ms vs warm {warm * 1000:.0f} ms "
            f"(1,000 events; clients built lazily)"
        )
    return 0


def _fresh_clients(endpoint: str) -> Any:
    from consumers.lambda_handler import Clients  # noqa: PLC0415

    # No injected clients: built on the first invocation, as in a new execution environment.
    return Clients(endpoint_url=endpoint)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
