"""The daemon's stderr, with the processors' lines shown once, as they were written.

The MultiLangDaemon reads every stderr line of its processors and logs it again at ERROR
(``Received error line from subprocess [LINE] for shard SHARD``), whatever the line says: an
INFO line of a processor showed up as an ERROR of the daemon. The launcher reads the
daemon's stderr and writes such a line as the processor wrote it (its own time, level and
logger), once; every other daemon line passes unchanged.
"""

from __future__ import annotations

import contextlib
import re
import threading
from typing import IO, Final

_RELOGGED: Final = re.compile(
    r"Received error line from subprocess \[(?P<line>.*)\] for shard (?P<shard>\S+)\s*$"
)


def unwrap(line: str) -> str:
    """A daemon stderr line, or the processor line it re-logs."""
    match = _RELOGGED.search(line)
    if match is None:
        return line
    return match.group("line") + "\n"


def _pump(source: IO[bytes], sink: IO[str]) -> None:
    with contextlib.suppress(OSError, ValueError):
        for raw in source:
            sink.write(unwrap(raw.decode(errors="replace")))
            sink.flush()


def forward(source: IO[bytes], sink: IO[str]) -> threading.Thread:
    """Copy ``source`` (the daemon's stderr) to ``sink`` through :func:`unwrap`, in a thread."""
    thread = threading.Thread(target=_pump, args=(source, sink), name="daemon-stderr", daemon=True)
    thread.start()
    return thread


__all__ = ("forward", "unwrap")
