"""``shardflow consume CONSUMER``: run one of the consumers.

Each consumer registers its own sub-command from a module listed in
:data:`_CONSUMER_MODULES` (``register(subparsers)``, like the top-level commands). Those
modules import only the standard library at import time, so ``shardflow --help`` works with
only the core installed; a consumer's dependencies are imported when it runs.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

#: Consumer sub-command modules, in the order ``shardflow consume --help`` lists them.
_CONSUMER_MODULES = ("consumers.kcl.cli", "shardflow_tools.lambda_esm.cli")


def register(sub: Any) -> None:
    """Add the ``consume`` command group."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "consume",
        help="run a consumer (kcl: the KCL MultiLangDaemon; lambda: the Lambda handler locally)",
        description="Consume a Kinesis stream into S3 with one of shardflow's consumers.",
    )
    consumers = parser.add_subparsers(dest="consumer", required=True, metavar="CONSUMER")
    for name in _CONSUMER_MODULES:
        importlib.import_module(name).register(consumers)
