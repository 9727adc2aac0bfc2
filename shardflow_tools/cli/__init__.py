"""The ``shardflow`` command line.

Each sub-command lives in its own module under :mod:`shardflow_tools.cli` and exposes
``register(subparsers)``; this module only builds the parser and dispatches. Commands that
need producers or consumers import them inside their handler, so ``shardflow local`` works
with only the core installed.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from shardflow import __version__

#: Sub-command modules, in the order ``--help`` lists them.
_COMMAND_MODULES = (
    "shardflow_tools.cli.local",
    "shardflow_tools.cli.produce",
    "shardflow_tools.cli.demo",
    "shardflow_tools.cli.consume",
    "shardflow_tools.cli.ddl",
    "shardflow_tools.cli.query",
    "shardflow_tools.cli.bootstrap",
    "shardflow_tools.cli.package",
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="shardflow",
        description="Real-time events on AWS Kinesis Data Streams.",
    )
    parser.add_argument("--version", action="version", version=f"shardflow {__version__}")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("SHARDFLOW_LOG_LEVEL", "WARNING"),
        help="logging level for stderr (default: WARNING, or SHARDFLOW_LOG_LEVEL)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``shardflow`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    code: int = args.func(args)
    return code
