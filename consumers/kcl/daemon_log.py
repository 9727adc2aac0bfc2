"""The daemon's stderr, with the processors' lines shown once, as they were written.

The MultiLangDaemon logs every stderr line of its processors again at ERROR (``Received
error line from subprocess [LINE] for shard SHARD``), whatever the line says, and the line
also reaches the daemon's stderr as written: every processor line showed up twice, once as
an ERROR of the daemon. The launcher reads the daemon's stderr and writes each processor
line once, as the processor wrote it (its own time, level and logger); every other daemon
line passes unchanged.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections import deque
from typing import IO, Final

_RELOGGED: Final = re.compile(
    r"Received error line from subprocess \[(?P<line>.*)\] for shard (?P<shard>\S+)\s*$"
)


#: How many lines of one copy wait for the other (the daemon re-logs within milliseconds).
_WINDOW: Final = 512


def unwrap(line: str) -> str:
    """A daemon stderr line, or the processor line it re-logs."""
    match = _RELOGGED.search(line)
    if match is None:
        return line
    return match.group("line") + "\n"


class Deduplicator:
    """Passes each processor line once, whichever of its two copies comes first."""

    def __init__(self, window: int = _WINDOW) -> None:
        self._pending: dict[bool, deque[str]] = {True: deque(), False: deque()}
        self._window = window

    def accept(self, line: str) -> str | None:
        """The line to write for daemon stderr line ``line``, or None for a second copy."""
        text = unwrap(line)
        relogged = text is not line
        other = self._pending[not relogged]
        if text in other:
            other.remove(text)
            return None
        mine = self._pending[relogged]
        mine.append(text)
        if len(mine) > self._window:
            mine.popleft()
        return text


def _pump(source: IO[bytes], sink: IO[str]) -> None:
    once = Deduplicator()
    with contextlib.suppress(OSError, ValueError):
        for raw in source:
            text = once.accept(raw.decode(errors="replace"))
            if text is not None:
                sink.write(text)
                sink.flush()


def forward(source: IO[bytes], sink: IO[str]) -> threading.Thread:
    """Copy ``source`` (the daemon's stderr) to ``sink`` through :func:`unwrap`, in a thread."""
    thread = threading.Thread(target=_pump, args=(source, sink), name="daemon-stderr", daemon=True)
    thread.start()
    return thread


__all__ = ("Deduplicator", "forward", "unwrap")
