"""Entry point of the processor child: wires configuration, AWS clients and kclpy.

stdout belongs to the multilang protocol. Before anything else runs, :func:`main` moves
the protocol to a private duplicate of file descriptor 1 and points descriptor 1 and
``sys.stdout`` at stderr, so a stray ``print`` (in a user handler, a library, a C
extension) lands in the daemon's log instead of corrupting the protocol.

Stop signals sent to the whole process group (Ctrl-C, systemd) are left to the daemon,
which shuts the processor down through the protocol (:mod:`consumers.kcl.signals`).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Final, TextIO

from consumers.kcl.signals import ShutdownSignals
from shardflow.errors import ShardflowError

logger = logging.getLogger(__name__)

#: Exit code for a configuration the processor cannot start with.
EXIT_CONFIG: Final = 2


def protect_stdout() -> TextIO:
    """Keep the real stdout for the protocol only; return it. Everything else -> stderr."""
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "w", encoding="utf-8")


def main() -> int:
    """Run one shard's processor until the daemon closes stdin."""
    signals = ShutdownSignals()
    signals.install()
    protocol_out = protect_stdout()
    # The daemon re-logs every stderr line of its children (as ERROR, whatever it says):
    # keep libraries at WARNING and the processor's own decisions at SHARDFLOW_LOG_LEVEL.
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format=f"%(asctime)s %(levelname)s [pid {os.getpid()}] %(name)s: %(message)s",
    )
    logging.getLogger("consumers").setLevel(os.environ.get("SHARDFLOW_LOG_LEVEL", "INFO").upper())
    from amazon_kclpy import kcl  # noqa: PLC0415 - after stdout is protected

    from consumers.kcl.factory import build_processor  # noqa: PLC0415

    try:
        processor = build_processor()
    except ShardflowError as exc:
        logger.error("cannot start the KCL processor: %s", exc)
        return EXIT_CONFIG
    signals.timeout = processor.config.shutdown_timeout
    kcl.KCLProcess(
        processor, input_file=sys.stdin, output_file=protocol_out, error_file=sys.stderr
    ).run()
    return 0
