"""A test handler that ends its processor on the first event it sees, once per test.

The daemon's processors run it (``SHARDFLOW_KCL_HANDLER=kcl_crash_probe:crash_once``, this
folder on ``PYTHONPATH``). The first processor to receive an event creates
``$SHARDFLOW_TEST_CRASH_MARKER`` and exits the way the processor itself does when S3 or the
dead-letter queue keeps failing (``SystemExit``, which kclpy lets through); every later
call, in any process, changes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from consumers import Event

#: The exit code of a processor whose S3 writes keep failing (consumers.kcl.processor).
EXIT_CODE = 3


def crash_once(event: Event) -> None:
    """Exit the process on the first event of the test; then do nothing."""
    try:
        with Path(os.environ["SHARDFLOW_TEST_CRASH_MARKER"]).open("x"):
            pass
    except FileExistsError:
        return
    raise SystemExit(EXIT_CODE)
