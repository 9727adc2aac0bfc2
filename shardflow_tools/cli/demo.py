"""``shardflow demo``: the main job on one machine, what ``make run`` starts.

The whole pipeline: producer -> stream -> local event source mapping -> Lambda handler ->
S3 -> ``shardflow query``. Steps (each a function):

1. :func:`start_endpoint` — the endpoint in ``AWS_ENDPOINT_URL`` if set (LocalStack, a
   running ``shardflow local``, AWS), otherwise the embedded emulator as a child process
   on a free port (4566 stays free for ``shardflow local``).
2. :func:`create_stream` — a fresh stream with 4 shards.
3. :func:`produce_sample` — realistic shop events through :class:`producers.EventProducer`.
4. :func:`consume_with_lambda` — the Lambda handler (``consumers.lambda_handler``) under
   the local event source mapping (``shardflow consume lambda``) until the stream is
   drained: KPL de-aggregation, dead letters, Parquet to S3.
5. :func:`query_output` — the S3 output through DuckDB, as ``shardflow query`` runs it.
6. :func:`summarize` — events sent and in S3, per shard, duplicates, per-key order, speed.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from shardflow import aws, settings
from shardflow_tools.bootstrap import BootstrapSpec, StreamSpec, bootstrap, checkpoint_table
from shardflow_tools.cli._progress import Progress

_EXIT_OK = 0
_EXIT_FAILED = 1


def register(sub: Any) -> None:
    """Add the ``demo`` sub-command."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="run the pipeline on the embedded emulator and print a summary",
        description=(
            "Start the embedded emulator (unless AWS_ENDPOINT_URL names an endpoint), create "
            "a stream, produce sample events, consume them with the Lambda handler under the "
            "local event source mapping into S3, query the output and check it."
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
class ConsumeStats:
    """What the Lambda consumer did, and where its output went."""

    bucket: str = ""
    prefix: str = ""
    invocations: int = 0
    failed_invocations: int = 0
    kinesis_records: int = 0
    dead_letters: int = 0
    seconds: float = 0.0


@dataclass
class QueryStats:
    """What the query over the S3 output found."""

    events: int = 0
    distinct_ids: int = 0
    per_shard: dict[str, int] = field(default_factory=dict)
    out_of_order: int = 0
    by_type: list[tuple[Any, ...]] = field(default_factory=list)
    objects: int = 0


#: Events of one user out of order in the output (by stream position) — 0 when order holds.
_ORDER_SQL = """
SELECT count(*) FROM (
    SELECT CAST(json_extract(data, '$.seq') AS BIGINT) AS seq,
           lag(CAST(json_extract(data, '$.seq') AS BIGINT)) OVER (
               PARTITION BY json_extract_string(data, '$.user_id')
               ORDER BY length(sequence_number), sequence_number, sub_sequence_number
           ) AS previous
    FROM events
) WHERE seq <= previous
"""


@contextlib.contextmanager
def start_endpoint() -> Iterator[str]:
    """The configured endpoint, or the embedded emulator in a child process for the block."""
    configured = settings.endpoint_url()
    if configured:
        yield configured
        return
    from shardflow_tools.emulator import EmulatorProcess  # noqa: PLC0415 - needs the "local" extra

    print("starting the embedded emulator (moto) ...", file=sys.stderr)  # noqa: T201
    with EmulatorProcess() as emulator:
        yield emulator.endpoint_url


def create_stream(kinesis: Any, name: str, shards: int) -> None:
    """Create ``name`` with ``shards`` shards (bootstrap's spec) and wait until it is ACTIVE."""
    spec = BootstrapSpec(key=None, streams=(StreamSpec(name, shard_count=shards),))
    bootstrap(spec, clients={"kinesis": kinesis})


def produce_sample(kinesis: Any, stream: str, count: int) -> ProduceStats:
    """Send ``count`` sample events through the producer; count what was delivered."""
    from producers import EventProducer, InMemoryMetrics, Metric  # noqa: PLC0415
    from shardflow_tools.samples import sample_events  # noqa: PLC0415

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


def consume_with_lambda(endpoint: str, stream: str, expected_records: int) -> ConsumeStats:
    """Run the Lambda handler under the local event source mapping until the stream is
    drained; its resources (bucket, dead-letter queue, tables) are created for the run."""
    from consumers.lambda_handler import (  # noqa: PLC0415
        Clients,
        HandlerConfig,
        LambdaConsumer,
        Observability,
    )
    from shardflow_tools.lambda_esm import (  # noqa: PLC0415 - needs the "lambda" extra
        EventSourceMappingRunner,
        MappingConfig,
        RunnerOptions,
    )
    from shardflow_tools.lambda_esm.resources import handler_spec  # noqa: PLC0415

    clients = Clients(
        s3=aws.client("s3", endpoint_url=endpoint),
        sqs=aws.client("sqs", endpoint_url=endpoint),
        dynamodb=aws.client("dynamodb", endpoint_url=endpoint),
    )
    config = HandlerConfig.from_env(
        bucket=stream,
        idempotency_table=f"{stream}-idempotency",
        attempts_table=f"{stream}-attempts",
        function_name=f"{stream}-consumer",
    )
    dlq, checkpoints = f"{stream}-dlq", f"{stream}-checkpoints"
    needs = handler_spec(config, dead_letter_queue=dlq)
    report = bootstrap(
        replace(needs, tables=(*needs.tables, checkpoint_table(checkpoints))),
        clients={"s3": clients.s3, "sqs": clients.sqs, "dynamodb": clients.dynamodb},
    )
    config = replace(config, dlq_url=report.queue_urls[dlq])
    runner = EventSourceMappingRunner(
        stream,
        LambdaConsumer(
            config,
            clients=clients,
            # The summary is the demo's output: the handler's JSON logs and EMF metrics
            # (what CloudWatch would get) stay quiet unless something goes wrong.
            observability=Observability(
                service=config.service,
                namespace=config.metrics_namespace,
                log_level="WARNING",
                emit_metrics=False,
            ),
        ),
        config=MappingConfig.from_env(starting_position="TRIM_HORIZON"),
        options=RunnerOptions(
            function_name=config.function_name,
            checkpoint_table=checkpoints,
            poll_interval_seconds=0.2,
            shard_sync_interval_seconds=2.0,
        ),
        kinesis_client=aws.client("kinesis", endpoint_url=endpoint),
        dynamodb_client=clients.dynamodb,
    )
    started = time.monotonic()
    with Progress("consuming (Lambda)", total=expected_records) as progress:

        def tick() -> bool:
            progress.update(runner.stats.records_completed)
            return False

        run = runner.run(until_drained=True, timeout=900, should_stop=tick)
        progress.update(run.records_completed)
    attributes = clients.sqs.get_queue_attributes(
        QueueUrl=config.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return ConsumeStats(
        bucket=config.bucket,
        prefix=config.sink.prefix,
        invocations=run.invocations,
        failed_invocations=run.failed_invocations + run.partial_failures,
        kinesis_records=run.records_completed,
        dead_letters=int(attributes.get("ApproximateNumberOfMessages", 0)),
        seconds=time.monotonic() - started,
    )


def query_output(endpoint: str, consumed: ConsumeStats) -> QueryStats:
    """Query the S3 output with DuckDB, the table as Athena sees it (``shardflow query``)."""
    from consumers import localquery  # noqa: PLC0415 - needs the "query" extra

    s3 = aws.client("s3", endpoint_url=endpoint)
    stats = QueryStats()
    with localquery.connect_s3(s3, consumed.bucket, consumed.prefix) as con:
        _, rows = localquery.run(con, "SELECT count(*), count(DISTINCT id) FROM events")
        stats.events, stats.distinct_ids = rows[0]
        _, rows = localquery.run(con, "SELECT shard_id, count(*) FROM events GROUP BY 1 ORDER BY 1")
        stats.per_shard = {str(shard): int(n) for shard, n in rows}
        _, rows = localquery.run(con, _ORDER_SQL)
        stats.out_of_order = int(rows[0][0])
        _, stats.by_type = localquery.run(
            con, "SELECT type, count(*) AS events FROM events GROUP BY 1 ORDER BY 2 DESC"
        )
    listing = s3.list_objects_v2(Bucket=consumed.bucket, Prefix=f"{consumed.prefix}/dt=")
    stats.objects = listing.get("KeyCount", 0)
    return stats


def summarize(
    stream: str, produced: ProduceStats, consumed: ConsumeStats, queried: QueryStats
) -> tuple[list[str], bool]:
    """The summary lines, and whether everything checked out."""
    duplicates = queried.events - queried.distinct_ids
    ok = (
        produced.failed == 0
        and queried.distinct_ids == produced.sent
        and duplicates == 0
        and queried.out_of_order == 0
        and consumed.dead_letters == 0
    )
    rate = produced.sent / max(produced.seconds, 1e-9)
    consume_rate = queried.events / max(consumed.seconds, 1e-9)
    lines = [
        "pipeline          producer -> Kinesis -> Lambda handler (local event source mapping) "
        "-> S3 (Parquet) -> shardflow query (DuckDB)",
        f"stream            {stream}",
        f"events sent       {produced.sent} ({produced.failed} failed) in "
        f"{produced.kinesis_records} Kinesis records, {produced.bytes / 1e6:.1f} MB",
        f"lambda handler    {consumed.invocations} invocations ({consumed.failed_invocations} "
        f"failed) over {consumed.kinesis_records} Kinesis records; "
        f"{consumed.dead_letters} dead letters",
        f"s3 output         s3://{consumed.bucket}/{consumed.prefix}/ ({queried.objects} objects)",
        f"events read       {queried.events} ({queried.distinct_ids} distinct ids) "
        "by shardflow query from S3",
        "per shard         "
        + ", ".join(f"{shard}: {n}" for shard, n in sorted(queried.per_shard.items())),
        f"duplicates        {duplicates}",
        f"order per user    "
        f"{'kept' if queried.out_of_order == 0 else f'{queried.out_of_order} out of order'}",
        "events by type    " + ", ".join(f"{etype}: {n}" for etype, n in queried.by_type),
        f"produce           {produced.seconds:.2f} s ({rate:,.0f} events/s, paced at the AWS "
        "shard limits of 1 MiB/s and 1,000 records/s per shard)",
        f"consume           {consumed.seconds:.2f} s ({consume_rate:,.0f} events/s through the "
        "local event source mapping, handler and S3 sink)",
        f"result            {'OK' if ok else 'PROBLEMS (see above)'}",
        "next              make test (every test); docs/: the producer API, the KCL "
        "consumer, shardflow local, Terraform",
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
            consumed = consume_with_lambda(endpoint, stream, produced.kinesis_records)
            queried = query_output(endpoint, consumed)
        finally:
            if not args.keep:
                kinesis.delete_stream(StreamName=stream, EnforceConsumerDeletion=True)
        lines, ok = summarize(stream, produced, consumed, queried)
    print("\n".join(lines))  # noqa: T201
    return _EXIT_OK if ok else _EXIT_FAILED
