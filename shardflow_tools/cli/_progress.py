"""Progress display for CLI commands: a rich progress bar when rich is installed and stderr
is a terminal, otherwise a status line every few seconds (also what a CI log shows)."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any, TextIO


class Progress:
    """Counts ``done`` out of ``total`` (None when unknown), drawn on stderr."""

    def __init__(
        self, description: str, total: int | None = None, *, stream: TextIO | None = None
    ) -> None:
        self._description = description
        self._total = total
        self._stream = stream or sys.stderr
        self._rich: Any = None
        self._task: Any = None
        self._last_line = time.monotonic()  # the first status line after 5 s, not at 0
        self._started = time.monotonic()
        self.done = 0

    def __enter__(self) -> Progress:
        if self._stream.isatty():
            try:
                from rich.console import Console  # noqa: PLC0415 - optional extra "cli"
                from rich.progress import (  # noqa: PLC0415
                    BarColumn,
                    MofNCompleteColumn,
                    TextColumn,
                    TimeElapsedColumn,
                )
                from rich.progress import Progress as RichProgress  # noqa: PLC0415
            except ImportError:
                pass
            else:
                self._rich = RichProgress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"),
                    TimeElapsedColumn(),
                    console=Console(file=self._stream),
                )
                self._rich.__enter__()
                self._task = self._rich.add_task(self._description, total=self._total, rate="")
        return self

    def update(self, done: int, total: int | None = None) -> None:
        """Set the count (and the total, once it is known)."""
        self.done = done
        if total is not None:
            self._total = total
        elapsed = max(time.monotonic() - self._started, 1e-9)
        rate = f"{done / elapsed:,.0f}/s"
        if self._rich is not None:
            self._rich.update(self._task, completed=done, total=self._total, rate=rate)
            return
        now = time.monotonic()
        if now - self._last_line >= 5.0:
            self._last_line = now
            of = f"/{self._total}" if self._total is not None else ""
            print(f"{self._description}: {done}{of} ({rate})", file=self._stream)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._rich is not None:
            self._rich.__exit__(exc_type, exc, tb)
