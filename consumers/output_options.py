"""The command-line options every command that touches the output shares.

``--bucket --prefix --format --dlq-url --endpoint-url --region`` mean the same on
``consume kcl``, ``consume lambda``, ``query`` and ``dlq``: the S3 output, its prefix and
format, the dead-letter queue, and where AWS is. Each defaults to the variable the consumers
read (``SHARDFLOW_BUCKET``, ...; ``AWS_ENDPOINT_URL``, ``AWS_REGION``), then to the name
``shardflow bootstrap`` creates, and the help says so. Standard library only: ``--help``
must not need a consumer's dependencies.
"""

from __future__ import annotations

import argparse

from shardflow import resources, settings

#: Option destination -> the variable the consumers read it from.
OUTPUT_VARIABLES = (
    ("bucket", settings.BUCKET),
    ("prefix", settings.OUTPUT_PREFIX),
    ("format", settings.OUTPUT_FORMAT),
    ("dlq_url", settings.DLQ_URL),
)


def add_output_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add the shared options (values default to None: the variables apply)."""
    parser.add_argument(
        "--bucket",
        help=f"S3 bucket of the output (default: {settings.BUCKET}, else {resources.BUCKET})",
    )
    parser.add_argument(
        "--prefix",
        help=f"key prefix of the output (default: {settings.OUTPUT_PREFIX}, else "
        f"{resources.OUTPUT_PREFIX})",
    )
    parser.add_argument(
        "--format",
        choices=("parquet", "jsonl", "iceberg"),
        help=f"output format (default: {settings.OUTPUT_FORMAT}, else parquet; iceberg: the "
        "table the SHARDFLOW_ICEBERG_* variables name)",
    )
    parser.add_argument(
        "--dlq-url",
        help=f"dead-letter queue URL (default: {settings.DLQ_URL}, else the queue named "
        f"{resources.DEAD_LETTER_QUEUE})",
    )
    parser.add_argument(
        "--endpoint-url",
        help=f"AWS endpoint (default: {settings.ENDPOINT_URL}; unset means AWS itself)",
    )
    parser.add_argument(
        "--region", help=f"AWS region (default: {settings.REGION}, else {settings.DEFAULT_REGION})"
    )


def output_environment(args: argparse.Namespace) -> dict[str, str]:
    """The consumers' variables for the options given on the command line."""
    env: dict[str, str] = {}
    for dest, variable in OUTPUT_VARIABLES:
        value = getattr(args, dest, None)
        if value is not None:
            env[variable] = str(value)
    return env


__all__ = ("OUTPUT_VARIABLES", "add_output_options", "output_environment")
