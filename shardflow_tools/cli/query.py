"""``shardflow query "SQL"``: Athena-style SQL on the sink's output, locally, with DuckDB."""

from __future__ import annotations

import argparse
import csv
import os
import sys
from typing import Any

from shardflow import resources, settings
from shardflow_tools.cli._table_options import add_location_options, add_table_options


def register(sub: Any) -> None:
    """Add the ``query`` sub-command."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "query",
        help="run SQL on the S3 output locally with DuckDB (table as in Athena)",
        description=(
            "Run an Athena-style SQL query with DuckDB over the S3 sink's output: in S3 "
            "(AWS_ENDPOINT_URL points at the emulator or LocalStack; objects are copied to a "
            "temporary folder) or in a local folder (--path). The table has the name and "
            "columns of the Athena DDL (shardflow ddl), Hive partitions dt and hr included; "
            f"it is also reachable as {resources.GLUE_DATABASE}.{resources.GLUE_TABLE}."
        ),
    )
    parser.add_argument(
        "sql", help='the query, e.g. "SELECT type, count(*) FROM events GROUP BY 1"'
    )
    parser.add_argument(
        "--path", default=None, help="local folder holding dt=.../hr=... (instead of S3)"
    )
    add_location_options(parser)
    parser.add_argument(
        "--format",
        choices=("parquet", "jsonl", "iceberg"),
        default=None,
        help=(
            "read only this output format (default: parquet and jsonl); iceberg reads the "
            "Iceberg table named by the SHARDFLOW_ICEBERG_* variables (docs/iceberg.md)"
        ),
    )
    parser.add_argument(
        "--endpoint-url", default=None, help="S3 endpoint (default: AWS_ENDPOINT_URL)"
    )
    parser.add_argument("--region", help="AWS region (default: AWS_REGION, else us-east-1)")
    add_table_options(parser, database_help="schema name")
    parser.add_argument(
        "--output", choices=("table", "csv", "json"), default="table", help="result format"
    )
    parser.set_defaults(func=run)


def _print_table(names: list[str], rows: list[tuple[Any, ...]]) -> None:
    cells = [names] + [["NULL" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(names))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    sys.stdout.write("\n".join(lines) + f"\n({len(rows)} row{'s' if len(rows) != 1 else ''})\n")


def _print(names: list[str], rows: list[tuple[Any, ...]], output: str) -> None:
    if output == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(rows)
    elif output == "json":
        import orjson  # noqa: PLC0415

        for row in rows:
            sys.stdout.write(
                orjson.dumps(dict(zip(names, row, strict=True)), default=str).decode() + "\n"
            )
    else:
        _print_table(names, rows)


def _iceberg_errors() -> type[Exception]:
    try:
        from consumers.sink.iceberg.query import IcebergQueryError  # noqa: PLC0415
    except ImportError:  # no iceberg extra: nothing raises it
        return RuntimeError
    return IcebergQueryError


def _query_iceberg(args: argparse.Namespace) -> tuple[list[str], list[tuple[Any, ...]]]:
    from consumers import localquery  # noqa: PLC0415
    from shardflow.errors import ConfigError  # noqa: PLC0415
    from shardflow_tools.cli._target import announce  # noqa: PLC0415

    try:
        from consumers.sink.iceberg import IcebergConfig  # noqa: PLC0415
        from consumers.sink.iceberg import query as iceberg_query  # noqa: PLC0415
    except ImportError as exc:
        raise localquery.QueryError(
            "--format iceberg needs pyiceberg: pip install 'shardflow[iceberg]'"
        ) from exc
    if args.endpoint_url:
        os.environ[settings.ENDPOINT_URL] = args.endpoint_url
    if args.region:
        os.environ[settings.REGION] = args.region
    announce("query", settings.endpoint_url(), args.region)
    bucket = args.bucket or settings.env(settings.BUCKET) or resources.BUCKET
    prefix = args.prefix or settings.env(settings.OUTPUT_PREFIX) or resources.OUTPUT_PREFIX
    try:
        config = IcebergConfig.from_env()
    except ConfigError as exc:
        raise localquery.QueryError(str(exc)) from exc
    arrow = iceberg_query.scan(config, bucket=bucket, prefix=prefix)
    con = iceberg_query.connect(arrow, table=args.table, database=args.database)
    try:
        return localquery.run(con, args.sql)
    finally:
        con.close()


def _table_schema() -> Any:
    # The declared data schema (SHARDFLOW_DATA_SCHEMA) types ``data`` when no file says
    # it: an empty table, JSON Lines columns.
    from consumers.data_schema import DataSchema  # noqa: PLC0415
    from consumers.schema import SCHEMA  # noqa: PLC0415

    path = settings.env(settings.DATA_SCHEMA)
    return SCHEMA.with_data(DataSchema.load(path)) if path else SCHEMA


def run(args: argparse.Namespace) -> int:
    """Run the query and print its result; 1 on error."""
    from consumers import localquery  # noqa: PLC0415 - core must not need consumers
    from shardflow import aws  # noqa: PLC0415
    from shardflow.errors import ConfigError  # noqa: PLC0415
    from shardflow_tools.cli._target import announce  # noqa: PLC0415

    formats = (args.format,) if args.format else ("parquet", "jsonl")
    try:
        if args.format == "iceberg":
            names, rows = _query_iceberg(args)
        elif args.path:
            con = localquery.connect(
                args.path,
                schema=_table_schema(),
                table=args.table,
                database=args.database,
                formats=formats,
            )
            try:
                names, rows = localquery.run(con, args.sql)
            finally:
                con.close()
        else:
            bucket = args.bucket or settings.env(settings.BUCKET) or resources.BUCKET
            prefix = args.prefix or settings.env(settings.OUTPUT_PREFIX) or resources.OUTPUT_PREFIX
            announce("query", args.endpoint_url or settings.endpoint_url(), args.region)
            s3 = aws.client("s3", endpoint_url=args.endpoint_url, region=args.region)
            with localquery.connect_s3(
                s3,
                bucket,
                prefix,
                schema=_table_schema(),
                table=args.table,
                database=args.database,
                formats=formats,
            ) as con:
                names, rows = localquery.run(con, args.sql)
    except (localquery.QueryError, ConfigError, _iceberg_errors()) as exc:
        print(f"shardflow query: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    _print(names, rows, args.output)
    return 0
