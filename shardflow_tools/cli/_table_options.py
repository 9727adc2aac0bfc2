"""The options of the commands that read the output as a table (``ddl``, ``query``): where
the output lies (``--bucket``, ``--prefix``) and the table's name (``--database``,
``--table``)."""

from __future__ import annotations

import argparse

from shardflow import resources, settings


def add_location_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--bucket`` and ``--prefix`` (None when not given: the variables apply)."""
    parser.add_argument(
        "--bucket",
        default=None,
        help=f"output bucket (default: ${settings.BUCKET} or {resources.BUCKET})",
    )
    parser.add_argument(
        "--prefix",
        default=None,
        help=f"output prefix (default: ${settings.OUTPUT_PREFIX} or {resources.OUTPUT_PREFIX})",
    )


def add_table_options(parser: argparse.ArgumentParser, *, database_help: str) -> None:
    """Add ``--database`` and ``--table`` (the Glue names by default)."""
    parser.add_argument("--database", default=resources.GLUE_DATABASE, help=database_help)
    parser.add_argument("--table", default=resources.GLUE_TABLE, help="table name")


__all__ = ("add_location_options", "add_table_options")
