"""How the launcher stops the daemon: gracefully first, at once when asked twice.

The first stop signal is forwarded to the daemon as SIGTERM (every processor flushes and
checkpoints within the shutdown grace). The daemon is killed when:

* a second stop signal comes (the user will not wait: what is not checkpointed is read
  again on the next start and rewritten to the same S3 keys, so nothing is lost or doubled);
* no processor has been left for a failover period (all of them checkpointed, or none ever
  ran, e.g. against an endpoint that went away): the rest of the grace would only wait for
  the daemon's own lease bookkeeping;
* the grace plus the exit margin has passed.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from consumers.kcl.processes import count_descendants

logger = logging.getLogger(__name__)


class DaemonStop:
    """The stop state of one daemon process; :meth:`request` from a signal handler,
    :meth:`tick` from the loop that waits for the daemon."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        *,
        deadline: float,
        linger: float,
        processor_marker: str,
        clock: Callable[[], float] = time.monotonic,
        count: Callable[[int, str], int | None] = count_descendants,
    ) -> None:
        self._proc = proc
        self._deadline = deadline
        self._linger = linger
        self._marker = processor_marker
        self._clock = clock
        self._count = count
        self.requested: float | None = None
        #: True when the daemon was killed because no processor was left: a clean stop.
        self.killed_when_idle = False
        self._idle_since: float | None = None

    def request(self, signum: int) -> None:
        """A stop signal: SIGTERM to the daemon the first time, SIGKILL the next."""
        if self.requested is not None:
            logger.warning("signal %d again: stopping the daemon now", signum)
            self._kill()
            return
        self.requested = self._clock()
        print(  # noqa: T201 - the launcher's own terminal line, not a processor's stdout
            "shardflow consume kcl: stopping; processors flush and checkpoint (up to "
            f"{self._deadline:.0f} s); Ctrl-C again to stop now (the rest is read again "
            "on the next start)",
            file=sys.stderr,
        )
        with contextlib.suppress(ProcessLookupError):
            self._proc.send_signal(signal.SIGTERM)

    def tick(self) -> None:
        """Kill the daemon when a stop is under way and waiting longer saves nothing."""
        if self.requested is None:
            return
        now = self._clock()
        if now - self.requested > self._deadline:
            logger.error("daemon still running %.0f s after SIGTERM: killing it", self._deadline)
            self._kill()
            return
        if self._count(self._proc.pid, self._marker) != 0:
            self._idle_since = None  # processors still at work (or no /proc to tell)
            return
        if self._idle_since is None:
            self._idle_since = now
        elif now - self._idle_since > self._linger:
            logger.info("no processor left for %.0f s: stopping the daemon", self._linger)
            self.killed_when_idle = True
            self._kill()

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self._proc.kill()


__all__ = ("DaemonStop",)
