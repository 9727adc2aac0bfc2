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
import traceback
from collections.abc import Sequence
from typing import Final

from shardflow import __version__

_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: Sub-command modules, in the order ``--help`` lists them.
_COMMAND_MODULES = (
    "shardflow_tools.cli.local",
    "shardflow_tools.cli.produce",
    "shardflow_tools.cli.demo",
    "shardflow_tools.cli.consume",
    "shardflow_tools.cli.ddl",
    "shardflow_tools.cli.query",
    "shardflow_tools.cli.dlq",
    "shardflow_tools.cli.tail",
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
        type=_log_level,
        default=os.environ.get("SHARDFLOW_LOG_LEVEL", "WARNING"),
        help="logging level for stderr: debug, info, warning, error or critical (default: "
        "WARNING, or SHARDFLOW_LOG_LEVEL); debug also shows tracebacks",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of a failure as well as its one-line message",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _log_level(value: str) -> str:
    level = value.strip().upper()
    if level not in _LEVELS:
        raise argparse.ArgumentTypeError(
            f"unknown level {value!r}; use one of {', '.join(v.lower() for v in _LEVELS)}"
        )
    return level


def _command_name(args: argparse.Namespace) -> str:
    parts = [args.command]
    for attr in ("consumer", "dlq_command"):
        if getattr(args, attr, None):
            parts.append(getattr(args, attr))
    return " ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``shardflow`` console script; returns the exit code.

    Expected failures (:mod:`shardflow_tools.cli._failures`) end as one line on stderr,
    exit 2 for usage and configuration errors and 1 for runtime failures; ``--debug`` or
    ``--log-level debug`` prints their traceback first.
    """
    from shardflow_tools.cli._failures import expected_failure  # noqa: PLC0415
    from shardflow_tools.cli._variables import warn_unknown_variables  # noqa: PLC0415

    parser = build_parser()
    env_level = os.environ.get("SHARDFLOW_LOG_LEVEL")
    if env_level is not None and env_level.strip().upper() not in _LEVELS:
        parser.error(f"SHARDFLOW_LOG_LEVEL: unknown level {env_level!r}")
    args = parser.parse_args(argv)
    level = _log_level(args.log_level)
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    debug = args.debug or level == "DEBUG"
    warn_unknown_variables()
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        failure = expected_failure(exc)
        if failure is None:
            raise
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        print(f"shardflow {_command_name(args)}: {failure.message}", file=sys.stderr)  # noqa: T201
        return failure.code
    return code
