"""Signals in the processor child: the daemon drives the shutdown, not the terminal.

Ctrl-C in a terminal, a terminal hang-up, and systemd's ``KillMode=control-group`` signal
the whole process group at once: the launcher, the daemon and every ``python -m
consumers.kcl`` processor. A processor that died of that signal (Python's default:
``KeyboardInterrupt`` for SIGINT, termination for SIGTERM) would never receive the
daemon's ``shutdownRequested``, so its buffered events would be neither flushed nor
checkpointed, and the daemon would log its death as a failure.

So the processor does not act on SIGINT, SIGTERM or SIGHUP itself: the daemon received the
same signal and asks every processor to flush and checkpoint (``shutdownRequested``), then
closes its stdin, which ends the processor. Two bounds keep it from outliving the daemon:

* the daemon gone (killed, crashed): stdin reaches EOF and the processor exits at once;
* the daemon alive but not shutting it down (hung): :class:`ShutdownSignals` exits the
  process ``timeout`` seconds after the first signal (exit code 128 + the signal), what is
  buffered then is replayed from the last checkpoint. ``shardflow consume kcl`` sets the
  timeout to the daemon's shutdown grace plus the time the launcher gives the JVM to exit.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Final

logger = logging.getLogger(__name__)

#: The signals a process group receives from a terminal or a service manager.
HANDLED: Final = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Seconds to wait for the daemon after a signal when nothing else says (KCL's default
#: shutdown grace is well below it).
DEFAULT_TIMEOUT: Final = 60.0
_POLL_SECONDS: Final = 0.2


class ShutdownSignals:
    """Ignore the group's stop signals and leave the shutdown to the daemon, within bounds.

    ``timeout`` may be changed after :meth:`install` (the configuration is read after the
    handlers are in place, so that a signal during start-up is not fatal either).
    ``exit_process`` ends the process without unwinding (the main thread may be blocked on stdin or
    inside an S3 call); tests replace it.
    """

    def __init__(
        self,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        exit_process: Callable[[int], object] = os._exit,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self._exit = exit_process
        self._clock = clock
        self._first: tuple[int, float] | None = None
        self._watchdog: threading.Thread | None = None

    @property
    def received(self) -> int | None:
        """The first signal received, or None."""
        return None if self._first is None else self._first[0]

    def install(self) -> None:
        """Handle :data:`HANDLED` in this process (call from the main thread)."""
        for sig in HANDLED:
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._first is not None:
            logger.info("signal %d again: still waiting for the daemon's shutdown", signum)
            return
        self._first = (signum, self._clock())
        logger.info(
            "signal %d: waiting for the daemon's shutdownRequested (flush, then checkpoint); "
            "exiting on my own in %.0f s if it does not come",
            signum,
            self.timeout,
        )
        self._watchdog = threading.Thread(
            target=self._expire, name="shutdown-watchdog", daemon=True
        )
        self._watchdog.start()

    def _expire(self) -> None:
        assert self._first is not None
        signum, since = self._first
        while self._clock() - since < self.timeout:
            time.sleep(_POLL_SECONDS)
        logger.error(
            "signal %d was %.0f s ago and the daemon has not shut this processor down: "
            "exiting; what is not checkpointed is replayed from the last checkpoint",
            signum,
            self.timeout,
        )
        self._exit(128 + signum)
