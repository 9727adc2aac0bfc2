"""A test handler that notes every event its processor receives, then changes nothing.

The daemon's processors run it (``SHARDFLOW_KCL_HANDLER=kcl_seen_probe:observe``, this
folder on ``PYTHONPATH``). The pipeline calls the handler before it buffers an event, so
an id in ``$SHARDFLOW_TEST_SEEN_DIR/<pid>.txt`` is an event a processor holds: buffered,
or already written. The e2e test waits on it before signalling the daemon, so it knows the
events are in the processors' buffers and not in S3 yet.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from consumers import Event

_out: IO[str] | None = None


def observe(event: Event) -> None:
    """Append the event's id to this process's file (flushed: the test reads it live)."""
    global _out  # noqa: PLW0603 - one file per processor process
    if _out is None:
        path = Path(os.environ["SHARDFLOW_TEST_SEEN_DIR"]) / f"{os.getpid()}.txt"
        _out = path.open("a", encoding="utf-8")
    _out.write(event.id + "\n")
    _out.flush()


def seen(directory: Path) -> set[str]:
    """Every id the processors noted so far."""
    return {
        line
        for path in directory.glob("*.txt")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line
    }
