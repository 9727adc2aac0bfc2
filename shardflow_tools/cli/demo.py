"""``shardflow demo``: the main job on one machine, what ``make run`` starts.

The whole pipeline: producer -> stream -> both consumers -> S3 -> ``shardflow query``.
Steps:

1. :func:`start_endpoint` — the endpoint in ``AWS_ENDPOINT_URL`` if set (LocalStack, a
   running ``shardflow local``), otherwise the embedded emulator as a child process on a
   free port (4566 stays free for ``shardflow local``), over HTTP/2 too when the KCL runs.
2. :func:`create_stream` — a fresh stream with 4 shards.
3. the consumers, each its own application into its own prefix of one bucket: the Lambda
   handler under the local event source mapping (:mod:`shardflow_tools.report.lambda_run`,
   ``events/``, the sink's default) and, where Java and a loopback-only network namespace
   exist, the KCL consumer ``shardflow consume kcl``
   (:mod:`shardflow_tools.report.kcl_worker`, ``kcl/``); otherwise the summary says why
   it did not run;
4. :func:`produce_sample` — realistic shop events through :class:`producers.EventProducer`
   at ``--rate`` for ``--duration`` (or ``--events``), while an observer per consumer polls
   its output as Athena reads it (:mod:`shardflow_tools.report.observer`);
5. :func:`query_output` and two Athena-style queries through ``shardflow query``;
6. :func:`summarize` and the per-consumer report lines (delivered, dead-lettered,
   duplicates, latency p50/p95/p99, throughput), printed and written as one HTML file
   with an inline SVG chart (:mod:`shardflow_tools.report.html`); ``--soak`` adds the
   memory and lag checks of ``make soak`` (:mod:`shardflow_tools.report.soak`).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from shardflow import aws, settings
from shardflow.errors import ConfigError
from shardflow_tools.bootstrap import BootstrapSpec, StreamSpec, bootstrap
from shardflow_tools.cli._progress import Progress
from shardflow_tools.report import html as html_report
from shardflow_tools.report import kcl_worker
from shardflow_tools.report.consumer_report import ConsumerReport, consumer_report
from shardflow_tools.report.kcl_worker import KCL_PREFIX, KclWorker
from shardflow_tools.report.lambda_run import LAMBDA_PREFIX, ConsumeStats, LambdaRun, dead_letters
from shardflow_tools.report.observer import OutputObserver
from shardflow_tools.report.plan import DEFAULT_EVENTS, DEFAULT_RATE, RunPlan, resolve
from shardflow_tools.report.queries import athena_queries
from shardflow_tools.report.soak import SoakProbe
from shardflow_tools.report.timeline import Timeline

if TYPE_CHECKING:
    from mypy_boto3_kinesis.client import KinesisClient

_EXIT_OK = 0
_EXIT_FAILED = 1
#: Where the HTML report goes unless --report says.
DEFAULT_REPORT: Final = "shardflow-report.html"
#: The producer sleeps only when it is this far ahead of its rate.
_PACE_SLEEP: Final = 0.002
#: How long the output may take to catch up once producing ended.
_DELIVERY_TIMEOUT: Final = 180.0


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
    parser.add_argument(
        "--events",
        type=int,
        default=None,
        help=f"events to produce (default: {DEFAULT_EVENTS}, or --rate x --duration)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help=f"events per second the producer puts (default: {DEFAULT_RATE:g}; 0: unpaced)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds to produce for: the event count is rate x duration (with --events "
        "and no --rate, the rate is events / duration)",
    )
    parser.add_argument(
        "--report",
        default=DEFAULT_REPORT,
        help=f"where the HTML report goes (default: ./{DEFAULT_REPORT})",
    )
    parser.add_argument(
        "--no-kcl",
        action="store_true",
        help="run the Lambda consumer alone even where the KCL consumer (Java) could run",
    )
    parser.add_argument(
        "--soak",
        action="store_true",
        help="also sample resident memory and lag while producing and check they stay "
        "flat (make soak)",
    )
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
def start_endpoint(*, http2: bool = False) -> Iterator[str]:
    """The configured endpoint (``AWS_ENDPOINT_URL``: LocalStack, ``shardflow local``), or
    the embedded emulator in a child process for the block; served over HTTP/2 as well
    with ``http2`` (the KCL's Kinesis client needs it)."""
    configured = settings.endpoint_url()
    if configured:
        yield configured
        return
    from shardflow_tools.emulator import EmulatorProcess  # noqa: PLC0415 - needs the "local" extra
    from shardflow_tools.emulator_h2 import Http2EmulatorProcess  # noqa: PLC0415

    print("starting the embedded emulator (moto) ...", file=sys.stderr)  # noqa: T201
    emulator = Http2EmulatorProcess() if http2 else EmulatorProcess()
    with emulator:
        yield emulator.endpoint_url


def create_stream(kinesis: KinesisClient, name: str, shards: int) -> None:
    """Create ``name`` with ``shards`` shards (bootstrap's spec) and wait until it is ACTIVE."""
    spec = BootstrapSpec(key=None, streams=(StreamSpec(name, shard_count=shards),))
    bootstrap(spec, clients={"kinesis": kinesis})


def produce_sample(
    kinesis: KinesisClient, stream: str, plan: RunPlan, timeline: Timeline | None = None
) -> ProduceStats:
    """Send ``plan.events`` sample events through the producer at ``plan.rate`` per second;
    count what was delivered. Outcomes are counted by callbacks, so a long run keeps no
    future per event."""
    from producers import EventProducer, InMemoryMetrics, Metric  # noqa: PLC0415
    from shardflow_tools.samples import sample_events  # noqa: PLC0415

    stats = ProduceStats()
    lock = threading.Lock()

    def done(future: Any) -> None:
        with lock:
            if future.exception() is None:
                stats.sent += 1
                stats.per_shard[future.result().shard_id] += 1
            else:
                stats.failed += 1

    metrics = InMemoryMetrics()
    started = time.monotonic()
    with (
        EventProducer(stream, client=kinesis, metrics=metrics) as producer,
        Progress("producing", total=plan.events) as progress,
    ):
        for i, (event, key) in enumerate(sample_events(plan.events)):
            if plan.rate > 0:
                delay = started + i / plan.rate - time.monotonic()
                if delay > _PACE_SLEEP:
                    time.sleep(delay)
            producer.put(event, partition_key=key).add_done_callback(done)
            if timeline is not None:
                timeline.note_produced(time.time())
            if i % 2000 == 0:
                progress.update(metrics.counter(Metric.USER_RECORDS_PUT))
        producer.flush()
        progress.update(metrics.counter(Metric.USER_RECORDS_PUT))
    stats.seconds = time.monotonic() - started
    stats.kinesis_records = metrics.counter(Metric.KINESIS_RECORDS_PUT)
    stats.bytes = metrics.counter(Metric.BYTES_PUT)
    return stats


def query_output(endpoint: str, bucket: str, prefix: str) -> QueryStats:
    """Query the S3 output with DuckDB, the table as Athena sees it (``shardflow query``)."""
    from consumers import localquery  # noqa: PLC0415 - needs the "query" extra

    s3 = aws.client("s3", endpoint_url=endpoint)
    stats = QueryStats()
    with localquery.connect_s3(s3, bucket, prefix) as con:
        _, rows = localquery.run(con, "SELECT count(*), count(DISTINCT id) FROM events")
        stats.events, stats.distinct_ids = rows[0]
        _, rows = localquery.run(con, "SELECT shard_id, count(*) FROM events GROUP BY 1 ORDER BY 1")
        stats.per_shard = {str(shard): int(n) for shard, n in rows}
        _, rows = localquery.run(con, _ORDER_SQL)
        stats.out_of_order = int(rows[0][0])
        _, stats.by_type = localquery.run(
            con, "SELECT type, count(*) AS events FROM events GROUP BY 1 ORDER BY 2 DESC"
        )
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/dt=")
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
        f"produce           {produced.seconds:.2f} s ({rate:,.0f} events/s, paced by --rate "
        "and at the AWS shard limits of 1 MiB/s and 1,000 records/s per shard)",
        f"consume           {consumed.seconds:.2f} s ({consume_rate:,.0f} events/s through the "
        "local event source mapping, handler and S3 sink)",
        f"result            {'OK' if ok else 'PROBLEMS (see above)'}",
        "next              make test (every test); docs/: the producer API, the KCL "
        "consumer, shardflow local, Terraform",
    ]
    return lines, ok


def run(args: argparse.Namespace) -> int:
    """Run the demo; exit status 0 when every event came back once and in order."""
    try:
        plan = resolve(args.events, args.rate, args.duration)
    except ConfigError as exc:
        print(f"shardflow demo: {exc}", file=sys.stderr)  # noqa: T201
        return _EXIT_FAILED
    if args.shards < 1:
        print("shardflow demo: --events and --shards must be >= 1", file=sys.stderr)  # noqa: T201
        return _EXIT_FAILED
    stream = args.stream or f"shardflow-demo-{uuid.uuid4().hex[:8]}"
    want_kcl = not args.no_kcl and kcl_worker.local_prerequisites() is None
    with (
        start_endpoint(http2=want_kcl) as endpoint,
        tempfile.TemporaryDirectory(prefix="shardflow-demo-") as work,
    ):
        print(f"endpoint          {endpoint}", file=sys.stderr)  # noqa: T201
        kcl_reason = "turned off (--no-kcl)" if args.no_kcl else kcl_worker.unavailable(endpoint)
        kinesis = aws.client("kinesis", endpoint_url=endpoint)
        create_stream(kinesis, stream, args.shards)
        try:
            run_ = _Run(args, plan, endpoint, stream, Path(work))
            lines, ok = run_.execute(kcl_reason)
        finally:
            if not args.keep:
                kinesis.delete_stream(StreamName=stream, EnforceConsumerDeletion=True)
    path = html_report.write(
        Path(args.report), f"shardflow pipeline report: {stream}", lines, run_.timeline, run_.names
    )
    lines.insert(len(lines) - 1, f"html report       {path}")
    print("\n".join(lines))  # noqa: T201
    return _EXIT_OK if ok else _EXIT_FAILED


class _Run:
    """One run of the pipeline: consumers up, produce, wait for the output, stop, query."""

    def __init__(
        self, args: argparse.Namespace, plan: RunPlan, endpoint: str, stream: str, work: Path
    ) -> None:
        self.args, self.plan, self.endpoint, self.stream, self.work = (
            args,
            plan,
            endpoint,
            stream,
            work,
        )
        self.s3 = aws.client("s3", endpoint_url=endpoint)
        self.timeline = Timeline(time.time())
        self.names = ["lambda"]
        self.kcl: KclWorker | None = None
        self.kcl_exit: int | None = None
        self.kcl_ok = False

    def execute(self, kcl_reason: str | None) -> tuple[list[str], bool]:
        """Run it; the summary lines and whether everything checked out."""
        lambda_run = LambdaRun(self.endpoint, self.stream, LAMBDA_PREFIX)
        if kcl_reason is None:
            self.kcl = kcl_worker.start(
                self.endpoint, self.stream, self.args.shards, self.stream, self.work / "kcl"
            )
            self.names.append("kcl")
        self.timeline = Timeline(time.time())
        prefixes = {"lambda": LAMBDA_PREFIX, "kcl": KCL_PREFIX}
        observers = [
            OutputObserver(self.s3, self.stream, prefixes[name], name, self.timeline)
            for name in self.names
        ]
        soak = SoakProbe(self.kcl, self.timeline, self.names) if self.args.soak else None
        try:
            for observer in observers:
                observer.start()
            lambda_run.start()
            if soak is not None:
                soak.start(self.plan)
            produced = produce_sample(
                aws.client("kinesis", endpoint_url=self.endpoint),
                self.stream,
                self.plan,
                self.timeline,
            )
            if soak is not None:
                soak.finish(produced.sent)
            self._wait_for_output(produced.sent)
        finally:
            lambda_run.halt()
            for observer in observers:
                observer.stop()
            if self.kcl is not None:
                self.kcl.request_stop()  # it shuts down while the queries run
        consumed = lambda_run.stop()
        return self._summary(kcl_reason, produced, consumed, soak)

    def _wait_for_output(self, expected: int) -> None:
        with Progress("waiting for the output in S3", total=expected) as progress:
            deadline = time.monotonic() + _DELIVERY_TIMEOUT
            while time.monotonic() < deadline:
                least = min(self.timeline.series(n).count for n in self.names)
                progress.update(least)
                if least >= expected:
                    return
                time.sleep(0.25)

    def _summary(
        self,
        kcl_reason: str | None,
        produced: ProduceStats,
        consumed: ConsumeStats,
        soak: SoakProbe | None,
    ) -> tuple[list[str], bool]:
        queried = query_output(self.endpoint, self.stream, LAMBDA_PREFIX)
        lines, ok = summarize(self.stream, produced, consumed, queried)
        reports = [
            consumer_report(
                "lambda",
                self.timeline,
                rows=queried.events,
                distinct_ids=queried.distinct_ids,
                dead_letters=consumed.dead_letters,
            )
        ]
        extra = [self._kcl_line(kcl_reason, reports)]
        rate = "unpaced" if self.plan.rate == 0 else f"{self.plan.rate:,.0f} events/s"
        extra.append(f"run plan          {self.plan.events} events at {rate}")
        extra += [r.line() for r in reports]
        for report in reports:
            ok = ok and report.delivered == produced.sent and report.duplicates == 0
            ok = ok and report.dead_lettered == 0
        ok = ok and (self.kcl is None or self.kcl_ok)
        extra.append("athena queries    (shardflow query, the Lambda consumer's output)")
        extra += athena_queries(self.endpoint, self.stream, LAMBDA_PREFIX)
        if soak is not None:
            extra += soak.lines()
            ok = ok and soak.ok
        at = next(i for i, line in enumerate(lines) if line.startswith("result"))
        lines[at] = f"result            {'OK' if ok else 'PROBLEMS (see above)'}"
        lines[at:at] = extra
        return lines, ok

    def _kcl_line(self, kcl_reason: str | None, reports: list[ConsumerReport]) -> str:
        """The KCL consumer's summary line (its report joins ``reports``)."""
        if self.kcl is None:
            return f"kcl consumer      NOT RUN: {kcl_reason}; the Lambda path ran alone"
        queried = query_output(self.endpoint, self.stream, KCL_PREFIX)
        sqs = aws.client("sqs", endpoint_url=self.endpoint)
        stopping = time.monotonic()
        self.kcl_exit = self.kcl.stop()
        if self.kcl_exit != 0:
            print(  # noqa: T201
                f"the KCL consumer exited {self.kcl_exit} {time.monotonic() - stopping:.0f} s "
                f"after SIGTERM; the end of its log:\n{self.kcl.tail(40)}",
                file=sys.stderr,
            )
        reports.append(
            consumer_report(
                "kcl",
                self.timeline,
                rows=queried.events,
                distinct_ids=queried.distinct_ids,
                dead_letters=dead_letters(sqs, self.kcl.dlq_url),
            )
        )
        order = "kept" if queried.out_of_order == 0 else f"{queried.out_of_order} out of order"
        self.kcl_ok = self.kcl_exit == 0 and queried.out_of_order == 0
        return (
            f"kcl consumer      application {self.kcl.application}, "
            f"s3://{self.stream}/{KCL_PREFIX}/ ({queried.objects} objects), order per user "
            f"{order}, exit {self.kcl_exit}"
        )
