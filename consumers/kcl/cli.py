"""``shardflow consume kcl``: the KCL consumer's command line.

Imports only the standard library and the shardflow core at import time (the ``consume``
group imports this module to build ``--help``); the launcher is imported when it runs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from consumers.output_options import add_output_options, output_environment
from shardflow import resources, settings

logger = logging.getLogger(__name__)

# flag -> KCL property; None keeps the KCL's default (against AWS) or the local timing.
_TIMING_FLAGS = (
    ("idle_time_between_reads_ms", "idleTimeBetweenReadsInMillis"),
    ("failover_time_ms", "failoverTimeMillis"),
    ("shard_sync_interval_ms", "shardSyncIntervalMillis"),
    ("parent_shard_poll_interval_ms", "parentShardPollIntervalMillis"),
    ("lease_assignment_interval_ms", "leaseAssignmentIntervalMillis"),
    ("worker_metrics_reporter_freq_ms", "workerMetricsReporterFreqInMillis"),
)


def register(sub: Any) -> None:
    """Add ``kcl`` to the ``consume`` group."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "kcl",
        help="run the KCL MultiLangDaemon (Java) with shardflow's Python record processor",
        description=(
            "Write the MultiLangDaemon's properties file and run the daemon from the KCL "
            "jars bundled with amazon_kclpy; each leased shard gets a `python -m "
            "consumers.kcl` processor that decodes events, writes them to S3 and "
            "checkpoints what is durably there. SIGTERM shuts down gracefully. Against a "
            "loopback AWS_ENDPOINT_URL the daemon runs in a loopback-only network namespace "
            "when the machine allows it (see --isolation)."
        ),
    )
    env = settings.env
    parser.add_argument(
        "--stream",
        default=env(settings.STREAM, resources.STREAM),
        help=f"Kinesis stream (default: {settings.STREAM}, else {resources.STREAM})",
    )
    parser.add_argument(
        "--app",
        default=env(settings.KCL_APPLICATION, resources.KCL_APPLICATION),
        help="KCL application name = lease table name (default: "
        f"{settings.KCL_APPLICATION}, else {resources.KCL_APPLICATION})",
    )
    output = parser.add_argument_group(
        "output and AWS (the same options as consume lambda, query and dlq)"
    )
    add_output_options(output)
    parser.add_argument(
        "--initial-position",
        choices=("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"),
        default="TRIM_HORIZON",
        help="where a shard without a checkpoint starts (default: TRIM_HORIZON)",
    )
    parser.add_argument(
        "--at-timestamp",
        type=datetime.fromisoformat,
        default=None,
        help="ISO 8601 time for --initial-position AT_TIMESTAMP",
    )
    parser.add_argument(
        "--handler",
        default=None,
        help="package.module:function called with each event before it is written "
        f"(default: {settings.KCL_HANDLER}, else none)",
    )
    parser.add_argument(
        "--checkpoint-interval",
        type=float,
        default=None,
        help="seconds between checkpoints while processing; 0 checkpoints after every "
        f"flush (default: {settings.KCL_CHECKPOINT_INTERVAL_SECONDS}, else 0)",
    )
    parser.add_argument(
        "--credentials-provider",
        default="DefaultCredentialsProvider",
        help="the daemon's AwsCredentialsProvider (AWS SDK for Java v2 provider name; "
        "default: DefaultCredentialsProvider)",
    )
    parser.add_argument(
        "--shutdown-grace-ms",
        type=int,
        default=20_000,
        help="how long processors get to flush and checkpoint on SIGTERM (default: 20000)",
    )
    parser.add_argument(
        "--metrics-level",
        choices=("NONE", "SUMMARY", "DETAILED"),
        default=None,
        help="KCL CloudWatch metrics (default: NONE locally, SUMMARY against AWS)",
    )
    parser.add_argument(
        "--retrieval-mode",
        choices=("POLLING", "FANOUT"),
        default="POLLING",
        help="GetRecords polling, or enhanced fan-out (SubscribeToShard; not in moto; "
        "default: POLLING)",
    )
    parser.add_argument(
        "--max-records", type=int, default=10_000, help="GetRecords limit (default: 10000)"
    )
    timings = parser.add_argument_group(
        "timings",
        "KCL timings in milliseconds. Against a loopback endpoint the defaults are tuned for "
        "a fast local start (idle reads 500, failover 5000, shard sync 5000, parent poll "
        "1000, lease assignment 2000, worker metrics 2000); against AWS the KCL's own "
        "defaults apply unless set here.",
    )
    for dest, prop in _TIMING_FLAGS:
        timings.add_argument(
            "--" + dest.replace("_", "-"), dest=dest, type=int, default=None, help=prop
        )
    parser.add_argument("--worker-id", default=None, help="KCL worker id (default: generated)")
    parser.add_argument(
        "--property",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other MultiLangDaemon property (repeatable; overrides the above)",
    )
    parser.add_argument(
        "--isolation",
        choices=("auto", "netns", "none"),
        default="auto",
        help="loopback-only network namespace for the daemon against a loopback endpoint: "
        "auto (the default) uses one when possible, netns requires one, none never uses one",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where the properties and logback files go (default: a new temp dir)",
    )
    parser.add_argument(
        "--java-log-level",
        default="INFO",
        help="log level of the daemon (stderr): TRACE, DEBUG, INFO (the default), WARN, ERROR, OFF",
    )
    parser.add_argument(
        "--print-properties",
        action="store_true",
        help="print the properties file and exit (to run the daemon yourself)",
    )
    parser.set_defaults(func=run)


def _processor_env(args: argparse.Namespace) -> dict[str, str]:
    env: dict[str, str] = {settings.STREAM: args.stream, **output_environment(args)}
    optional = (
        (settings.KCL_HANDLER, args.handler),
        (settings.KCL_CHECKPOINT_INTERVAL_SECONDS, args.checkpoint_interval),
    )
    for name, value in optional:
        if value is not None:
            env[name] = str(value)
    return env


def build_config(args: argparse.Namespace) -> Any:
    """The :class:`~consumers.kcl.launcher.LaunchConfig` the arguments describe."""
    from consumers.kcl.launcher import (  # noqa: PLC0415 - keep --help light
        LaunchConfig,
        loopback_port,
        processor_executable,
    )
    from consumers.kcl.properties import LOCAL_TIMINGS, DaemonProperties  # noqa: PLC0415

    endpoint = args.endpoint_url or settings.endpoint_url()
    local = loopback_port(endpoint) is not None
    timings = dict(LOCAL_TIMINGS) if local else {}
    for dest, prop in _TIMING_FLAGS:
        value = getattr(args, dest)
        if value is not None:
            timings[prop] = value
    extra: list[tuple[str, str]] = []
    for item in args.property:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"shardflow consume kcl: --property {item!r}: expected KEY=VALUE")
        extra.append((key.strip(), value.strip()))
    workdir: Path | None = args.workdir
    if workdir is None and " " in sys.executable:
        import tempfile  # noqa: PLC0415 - only for the wrapper script

        workdir = Path(tempfile.mkdtemp(prefix="shardflow-kcl-"))
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    properties = DaemonProperties(
        stream=args.stream,
        application=args.app,
        executable=processor_executable(workdir or Path.cwd()),
        region=args.region or settings.region(),
        endpoint_url=endpoint,
        initial_position=args.initial_position,
        initial_timestamp=args.at_timestamp,
        credentials_provider=args.credentials_provider,
        shutdown_grace_millis=args.shutdown_grace_ms,
        metrics_level=args.metrics_level or ("NONE" if local else "SUMMARY"),
        retrieval_mode=args.retrieval_mode,
        max_records=args.max_records,
        timings=timings,
        worker_id=args.worker_id,
        processing_language=f"python/{sys.version_info.major}.{sys.version_info.minor}",
        extra=tuple(extra),
    )
    return LaunchConfig(
        properties=properties,
        workdir=workdir,
        isolation=args.isolation,
        java_log_level=args.java_log_level,
        processor_env=_processor_env(args),
    )


def _setup_comment(config: Any) -> str:
    """What else running the daemon by hand needs, as properties-file comments."""
    import shlex  # noqa: PLC0415

    from consumers.kcl.errors import LaunchError  # noqa: PLC0415
    from consumers.kcl.launcher import daemon_command, daemon_env, find_java, kcl_jars_dir  # noqa: PLC0415

    try:
        java = find_java(config.java_home)
    except LaunchError:
        java = "java"
    try:
        jars: Any = kcl_jars_dir()
    except LaunchError:
        jars = "<site-packages>/amazon_kclpy/jars"
    properties_file = f"{config.properties.application}.properties"
    lines = [
        "",
        "# To run the daemon yourself: save the above as " + properties_file + ", set the",
        "# variables the processors read (CBOR must stay off: emulators answer CBOR with errors)",
    ]
    env = daemon_env(config, base={})
    lines += [f"#   export {name}={shlex.quote(value)}" for name, value in sorted(env.items())]
    if settings.DLQ_URL not in env:
        lines.append(
            f"#   export {settings.DLQ_URL}=<queue URL>  (without one the first poison record "
            "stops its shard)"
        )
    lines += [
        "# and start it with:",
        "#   " + shlex.join(daemon_command(java, jars, properties_file)),
        "",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run the daemon (or print its properties); return the exit code."""
    from consumers.kcl.errors import KclError  # noqa: PLC0415
    from consumers.kcl.probe import EndpointProbeError  # noqa: PLC0415
    from shardflow.errors import ConfigError  # noqa: PLC0415

    try:
        config = build_config(args)
        if args.print_properties:
            sys.stdout.write(config.properties.render() + _setup_comment(config))
            return 0
        return _consume(config)
    except EndpointProbeError as exc:
        print(f"shardflow consume kcl: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    except (KclError, ConfigError) as exc:
        print(f"shardflow consume kcl: {exc}", file=sys.stderr)  # noqa: T201
        return 2


def _consume(config: Any) -> int:
    """Say where, check the endpoint, find the dead-letter queue, run, count dead letters."""
    import dataclasses  # noqa: PLC0415

    from consumers.deadletter_queue import queue_depth  # noqa: PLC0415
    from consumers.kcl.deadletters import report_dead_letters, with_dead_letter_queue  # noqa: PLC0415
    from consumers.kcl.launcher import launch  # noqa: PLC0415
    from consumers.kcl.probe import probe_h2c  # noqa: PLC0415
    from shardflow import aws  # noqa: PLC0415

    props = config.properties
    where = props.endpoint_url or f"AWS itself ({settings.ENDPOINT_URL} is not set)"
    print(  # noqa: T201
        f"shardflow consume kcl: endpoint {where}, region {props.region}", file=sys.stderr
    )
    if props.endpoint_url:
        # Before anything else talks to it: one clear line if the KCL cannot use it.
        probe_h2c(props.endpoint_url)
    sqs = aws.client("sqs", endpoint_url=props.endpoint_url, region=props.region)
    config, dlq_url = with_dead_letter_queue(config, sqs)
    before = queue_depth(sqs, dlq_url) if dlq_url else None
    code: int = launch(dataclasses.replace(config, probe_endpoint=False))
    report_dead_letters(sqs, dlq_url, before)
    return code
