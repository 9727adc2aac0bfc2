"""``consume lambda``'s options into the runner's configuration, errors naming the flag.

:class:`~shardflow_tools.lambda_esm.config.MappingConfig` names its fields as Python does
(``batch_size: must be 1-10000``); an operator typed ``--batch-size 0`` or set
``SHARDFLOW_BATCH_SIZE=0``, so the error names whichever of the two gave the value.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Final

from consumers.output_options import output_environment
from shardflow import aws, settings
from shardflow.errors import ConfigError
from shardflow_tools.lambda_esm.config import MappingConfig, RunnerOptions, parse_timestamp
from shardflow_tools.lambda_esm.destination_arn import queue_url_of

#: Configuration field -> (the option that sets it, the variable it defaults to).
_SOURCES: Final = {
    "batch_size": ("--batch-size", settings.BATCH_SIZE),
    "maximum_batching_window_in_seconds": (
        "--maximum-batching-window-in-seconds",
        settings.MAXIMUM_BATCHING_WINDOW_IN_SECONDS,
    ),
    "starting_position": ("--starting-position", settings.STARTING_POSITION),
    "starting_position_timestamp": (
        "--starting-position-timestamp",
        settings.STARTING_POSITION_TIMESTAMP,
    ),
    "parallelization_factor": ("--parallelization-factor", settings.PARALLELIZATION_FACTOR),
    "maximum_retry_attempts": ("--maximum-retry-attempts", settings.MAXIMUM_RETRY_ATTEMPTS),
    "maximum_record_age_in_seconds": (
        "--maximum-record-age-in-seconds",
        settings.MAXIMUM_RECORD_AGE_IN_SECONDS,
    ),
    "on_failure_queue_url": ("--on-failure-destination", settings.ON_FAILURE_QUEUE_URL),
    "function_name": ("--function-name", settings.LAMBDA_FUNCTION_NAME),
    "function_timeout_seconds": ("--timeout", settings.LAMBDA_TIMEOUT_SECONDS),
    "checkpoint_table": ("--checkpoint-table", settings.CHECKPOINT_TABLE),
    "poll_interval_seconds": ("--poll-interval", ""),
    "shard_sync_interval_seconds": ("--shard-sync-interval", ""),
}


def _named(exc: ConfigError, given: dict[str, object]) -> ConfigError:
    flag, variable = _SOURCES.get(exc.field, ("", ""))
    if not flag:
        return exc
    name = flag if given.get(exc.field) is not None or not variable else variable
    message = str(exc).removeprefix(f"{exc.field}: ")
    return ConfigError(name, message)


def handler_overrides(args: argparse.Namespace) -> dict[str, object]:
    """``--bucket --prefix --format --dlq-url`` as keyword arguments of
    :meth:`consumers.lambda_handler.HandlerConfig.from_env` (None where not given)."""
    from consumers.sink import SinkConfig  # noqa: PLC0415 - keep --help light

    given = args.format or args.prefix
    return {
        "bucket": args.bucket,
        "dlq_url": args.dlq_url,
        "sink": SinkConfig.from_env(format=args.format, prefix=args.prefix) if given else None,
    }


def function_environment(args: argparse.Namespace) -> dict[str, str]:
    """The variables a handler of the user's own reads the output options from, as the
    Lambda service hands a function its configuration: ``SHARDFLOW_BUCKET``, ...,
    ``AWS_ENDPOINT_URL``, ``AWS_REGION`` for the options given."""
    env = output_environment(args)
    if args.endpoint_url:
        env[settings.ENDPOINT_URL] = args.endpoint_url
    if args.region:
        env[settings.REGION] = args.region
    return env


def mapping_from_args(args: argparse.Namespace) -> tuple[MappingConfig, RunnerOptions]:
    """The mapping and runner settings of the options (over ``SHARDFLOW_*`` variables)."""
    mapping: dict[str, object] = {
        "batch_size": args.batch_size,
        "maximum_batching_window_in_seconds": args.maximum_batching_window_in_seconds,
        "starting_position": args.starting_position,
        "parallelization_factor": args.parallelization_factor,
        "bisect_batch_on_function_error": args.bisect_batch_on_function_error,
        "maximum_retry_attempts": args.maximum_retry_attempts,
        "maximum_record_age_in_seconds": args.maximum_record_age_in_seconds,
        "report_batch_item_failures": args.report_batch_item_failures,
        "on_failure_queue_url": args.on_failure_destination,
    }
    runner: dict[str, object] = {
        "function_name": args.function_name,
        "function_timeout_seconds": args.function_timeout_seconds,
        "checkpoint_table": args.checkpoint_table,
        "poll_interval_seconds": args.poll_interval_seconds,
        "shard_sync_interval_seconds": args.shard_sync_interval_seconds,
        "region": args.region,
        "endpoint_url": args.endpoint_url,
    }
    try:
        if args.starting_position_timestamp:
            mapping["starting_position_timestamp"] = parse_timestamp(
                args.starting_position_timestamp, field_name="--starting-position-timestamp"
            )
        config = MappingConfig.from_env(**mapping)
        options = RunnerOptions.from_env(**runner)
    except ConfigError as exc:
        raise _named(exc, {**mapping, **runner}) from exc
    destination = config.on_failure_queue_url
    if destination and destination.startswith("arn:"):
        _flag, variable = _SOURCES["on_failure_queue_url"]
        field = "--on-failure-destination" if args.on_failure_destination else variable
        create = args.create_resources
        if create is None:
            create = aws.is_local_endpoint(options.endpoint_url)
        sqs = aws.client("sqs", region=options.region, endpoint_url=options.endpoint_url)
        url = queue_url_of(destination, sqs, field=field, create=create)
        config = dataclasses.replace(config, on_failure_queue_url=url)
    return config, options


__all__ = ("function_environment", "handler_overrides", "mapping_from_args")
