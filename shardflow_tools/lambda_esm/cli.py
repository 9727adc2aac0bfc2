"""``shardflow consume lambda``: the Lambda handler under a local event source mapping.

Imports only the standard library at import time (``shardflow --help`` must not need the
consumer's dependencies); the runner and the handler are imported when the command runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

from consumers.output_options import add_output_options

if TYPE_CHECKING:
    from consumers.lambda_handler import HandlerConfig
    from shardflow_tools.lambda_esm.config import RunnerOptions
    from shardflow_tools.lambda_esm.invoker import Handler, RunStats

logger = logging.getLogger(__name__)

DEFAULT_HANDLER = "consumers.lambda_handler.handler"


def register(sub: Any) -> None:
    """Add the ``lambda`` consumer sub-command."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "lambda",
        help="run the Lambda handler in-process under a local Kinesis event source mapping",
        description=(
            "Poll a Kinesis stream through the Kinesis API and invoke a Lambda handler "
            "in-process with the semantics of the AWS event source mapping (batching, "
            "partial batch responses, bisection, retries, record age, OnFailure "
            "destination, parallelization factor), checkpointing in DynamoDB. Settings "
            "default to the SHARDFLOW_* variables the Terraform module exposes; options "
            "override them."
        ),
    )
    parser.add_argument(
        "--stream", help="stream name (default: SHARDFLOW_STREAM, else shardflow-events)"
    )
    parser.add_argument(
        "--handler",
        default=DEFAULT_HANDLER,
        help=f"handler as module.function or module:function (default: {DEFAULT_HANDLER})",
    )
    esm = parser.add_argument_group("event source mapping (default: SHARDFLOW_* variables)")
    esm.add_argument("--batch-size", type=int, help="BatchSize (1-10000, default 100)")
    esm.add_argument(
        "--maximum-batching-window-in-seconds",
        "--batching-window",
        type=float,
        dest="maximum_batching_window_in_seconds",
        help="MaximumBatchingWindowInSeconds (0-300, default 0)",
    )
    esm.add_argument(
        "--starting-position",
        choices=("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"),
        help="StartingPosition (default TRIM_HORIZON)",
    )
    esm.add_argument(
        "--starting-position-timestamp",
        help="StartingPositionTimestamp for AT_TIMESTAMP (RFC 3339 or Unix seconds)",
    )
    esm.add_argument(
        "--parallelization-factor", type=int, help="ParallelizationFactor (1-10, default 1)"
    )
    esm.add_argument(
        "--bisect-batch-on-function-error",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="BisectBatchOnFunctionError (default false)",
    )
    esm.add_argument(
        "--maximum-retry-attempts", type=int, help="MaximumRetryAttempts (-1 = until expiry)"
    )
    esm.add_argument(
        "--maximum-record-age-in-seconds",
        "--maximum-record-age",
        type=int,
        dest="maximum_record_age_in_seconds",
        help="MaximumRecordAgeInSeconds (-1 = no limit, 60-604800)",
    )
    esm.add_argument(
        "--function-response-types",
        type=function_response_types,
        dest="report_batch_item_failures",
        metavar="ReportBatchItemFailures|none",
        help="FunctionResponseTypes (default ReportBatchItemFailures)",
    )
    esm.add_argument(
        "--report-batch-item-failures",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the same as --function-response-types ReportBatchItemFailures (or none)",
    )
    esm.add_argument(
        "--on-failure-destination",
        "--on-failure-queue-url",
        dest="on_failure_destination",
        metavar="ARN_OR_URL",
        help="DestinationConfig.OnFailure: an SQS queue's ARN (as in AWS and Terraform) or "
        "URL (default: SHARDFLOW_ON_FAILURE_QUEUE_URL)",
    )
    local = parser.add_argument_group("local runner")
    local.add_argument("--function-name", help="function name (checkpoint and idempotency key)")
    local.add_argument(
        "--timeout",
        type=float,
        dest="function_timeout_seconds",
        help="function timeout in seconds (default: SHARDFLOW_LAMBDA_TIMEOUT_SECONDS or 60)",
    )
    local.add_argument("--checkpoint-table", help="DynamoDB checkpoint table")
    local.add_argument(
        "--poll-interval",
        type=float,
        dest="poll_interval_seconds",
        help="seconds between polls of a caught-up shard (default 1, as Lambda)",
    )
    local.add_argument(
        "--shard-sync-interval",
        type=float,
        dest="shard_sync_interval_seconds",
        help="seconds between ListShards calls that find resharded children (default 10)",
    )
    local.add_argument(
        "--until-drained",
        action="store_true",
        help="exit once every shard is processed up to what the stream holds",
    )
    local.add_argument("--duration", type=float, help="exit after this many seconds")
    local.add_argument(
        "--create-resources",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="create missing tables, bucket and queues (default: only for a local endpoint)",
    )
    output = parser.add_argument_group(
        "output and AWS (the same options as consume kcl, query and dlq)"
    )
    add_output_options(output)
    parser.set_defaults(func=run)


def function_response_types(value: str) -> bool:
    """argparse type of ``--function-response-types``: True for ReportBatchItemFailures."""
    names = {part.strip() for part in value.split(",") if part.strip()}
    if names <= {"ReportBatchItemFailures"} and names:
        return True
    if names <= {"none", "None", "NONE", ""}:
        return False
    raise argparse.ArgumentTypeError(f"only ReportBatchItemFailures or none, got {value!r}")


def load_handler(spec: str) -> Handler:
    """The callable named by ``module.attr`` or ``module:attr``."""
    from shardflow.errors import ConfigError  # noqa: PLC0415
    from shardflow.imports import load_callable  # noqa: PLC0415
    from shardflow_tools.lambda_esm.errors import HandlerImportError  # noqa: PLC0415

    try:
        return load_callable(spec, field="--handler")
    except ConfigError as exc:
        raise HandlerImportError(str(exc)) from exc


def default_handler(config: HandlerConfig, options: RunnerOptions | None = None) -> Handler:
    """The default handler (what ``consumers.lambda_handler.handler`` runs) built with
    ``config`` instead of reading it from the process environment; given the runner's
    ``options``, its clients go to their region and endpoint."""
    from consumers.lambda_handler import LambdaConsumer  # noqa: PLC0415
    from shardflow_tools.lambda_esm.local import handler_clients  # noqa: PLC0415

    return LambdaConsumer(config, clients=handler_clients(options) if options else None)


def run(args: argparse.Namespace) -> int:
    """Run the mapping until Ctrl-C, ``--duration`` or ``--until-drained``."""
    from shardflow import (  # noqa: PLC0415
        aws,
        resources,
        settings,
    )
    from shardflow_tools.cli._deadletter_count import DeadLetterCount  # noqa: PLC0415
    from shardflow_tools.cli._target import announce  # noqa: PLC0415
    from shardflow_tools.lambda_esm.cli_config import (  # noqa: PLC0415
        function_environment,
        handler_overrides,
        mapping_from_args,
    )
    from shardflow_tools.lambda_esm.errors import (  # noqa: PLC0415
        HandlerImportError,
        MappingError,
        StreamNotFoundError,
    )
    from shardflow_tools.lambda_esm.local import handler_config, prepare_local_run  # noqa: PLC0415
    from shardflow_tools.lambda_esm.runner import EventSourceMappingRunner  # noqa: PLC0415

    try:
        config, options = mapping_from_args(args)
        stream = args.stream or settings.env(settings.STREAM, resources.STREAM) or resources.STREAM
        if args.handler == DEFAULT_HANDLER and config.parallelization_factor > 1:
            # Concurrent batches of one shard are concurrent writers of its S3 output: the
            # sink's fencing keeps it exactly once, but each lane would fence the others.
            print(  # noqa: T201
                "shardflow consume lambda: the default handler writes to the S3 sink, which "
                "needs ParallelizationFactor 1 (the lanes of a shard would fence each "
                f"other's writes); got {config.parallelization_factor}",
                file=sys.stderr,
            )
            return 2
        announce("consume lambda", options.endpoint_url, options.region)
        # The default handler's configuration: what it is built with, and (also for another
        # handler, as a local run always did) what the resources created for the run name.
        needed = args.handler == DEFAULT_HANDLER or args.create_resources is not False
        default = prepare_local_run(
            config=config,
            options=options,
            handler=handler_config(options, handler_overrides(args)) if needed else None,
            create=args.create_resources,
            endpoint_url=options.endpoint_url,
            region=options.region,
        )
        if args.handler == DEFAULT_HANDLER and default is not None:
            handler = default_handler(default, options)
        else:
            # A handler of the user's own reads its configuration as a function on AWS does:
            # from the environment the service gives it, which the options stand in for.
            os.environ.update(function_environment(args))
            handler = load_handler(args.handler)
        runner = EventSourceMappingRunner(stream, handler, config=config, options=options)
    except HandlerImportError as exc:
        print(f"shardflow consume lambda: {exc}", file=sys.stderr)  # noqa: T201
        return 2

    def _stop(signum: int, _frame: Any) -> None:
        logger.info("signal %d: stopping after the invocations under way", signum)
        runner.stop()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(  # noqa: T201
        f"consuming {stream} with {args.handler} (batch size {config.batch_size}, "
        f"parallelization {config.parallelization_factor}); Ctrl-C to stop",
        file=sys.stderr,
    )
    dead_letters = DeadLetterCount(
        "consume lambda",
        aws.client("sqs", region=options.region, endpoint_url=options.endpoint_url),
        url=default.dlq_url if default is not None else args.dlq_url,
    )
    dead_letters.start()
    try:
        stats = runner.run(until_drained=args.until_drained, timeout=args.duration)
    except MappingError as exc:
        hint = (
            " (create it with `shardflow bootstrap`, or name another with --stream)"
            if isinstance(exc, StreamNotFoundError)
            else ""
        )
        print(f"shardflow consume lambda: {exc}{hint}", file=sys.stderr)  # noqa: T201
        _print_stats(runner.stats)
        dead_letters.report()
        return 1
    finally:
        for sig, handler_ in previous.items():
            signal.signal(sig, handler_)
    _print_stats(stats)
    dead_letters.report()
    return 0


def _print_stats(stats: RunStats) -> None:
    print(  # noqa: T201
        f"{stats.invocations} invocations ({stats.failed_invocations} failed, "
        f"{stats.partial_failures} partial), {stats.records_completed} Kinesis records processed, "
        f"{stats.records_discarded} discarded, {stats.shards_ended} shards ended, "
        f"{stats.checkpoints_written} checkpoints",
        file=sys.stderr,
    )
