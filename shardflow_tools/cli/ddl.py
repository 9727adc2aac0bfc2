"""``shardflow ddl``: print the Athena ``CREATE EXTERNAL TABLE`` for the sink's output."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from shardflow import resources, settings
from shardflow_tools.cli._table_options import add_location_options, add_table_options


def register(sub: Any) -> None:
    """Add the ``ddl`` sub-command."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "ddl",
        help="print the Athena/Glue table DDL (partition projection) for the S3 output",
        description=(
            "Print CREATE EXTERNAL TABLE for the S3 sink's output, generated from the schema "
            "the sink writes (consumers.schema.SCHEMA), with partition projection so Athena "
            "needs no crawler and no MSCK REPAIR TABLE."
        ),
    )
    add_location_options(parser)
    parser.add_argument(
        "--format",
        choices=("parquet", "jsonl"),
        default=None,
        help=f"output format (default: ${settings.OUTPUT_FORMAT} or parquet)",
    )
    add_table_options(parser, database_help="Glue database")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the DDL to stdout."""
    from consumers.athena import create_table_ddl  # noqa: PLC0415 - core must not need consumers
    from consumers.sink.config import SinkConfig  # noqa: PLC0415
    from shardflow.errors import ConfigError  # noqa: PLC0415

    try:
        config = SinkConfig.from_env(format=args.format, prefix=args.prefix)
    except ConfigError as exc:
        print(f"shardflow ddl: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    bucket = args.bucket or settings.env(settings.BUCKET) or resources.BUCKET
    sys.stdout.write(
        create_table_ddl(bucket, config=config, table=args.table, database=args.database or None)
    )
    return 0
