"""Backpressure: a bounded count of buffered bytes that ``put`` waits on.

Every record holds its size (data plus partition key) from ``put`` until its future
completes. When the total would pass ``max_buffer_bytes``, ``put`` waits for deliveries to
free room, up to ``put_timeout`` seconds, and then raises
:class:`~producers.BufferFullError`: an application that produces faster than the stream
accepts is slowed down, and told when it waited too long, instead of growing without bound
or losing records.

The budget shares the producer's lock (it is passed the producer's condition variable),
so reserving room costs no extra lock acquisition in ``put``.
"""

from __future__ import annotations

import threading
import time

from producers.exceptions import BufferFullError

__all__ = ["ByteBudget"]


class ByteBudget:
    """Reserve and release buffered bytes under the caller's lock.

    All methods must be called with ``condition``'s lock held.
    """

    __slots__ = ("_condition", "_stream", "_waiters", "limit", "records", "used")

    def __init__(self, limit: int, condition: threading.Condition, *, stream: str) -> None:
        #: The most bytes that may be buffered.
        self.limit = limit
        self._condition = condition
        self._stream = stream
        self._waiters = 0
        #: Bytes and records reserved and not yet released.
        self.used = 0
        self.records = 0

    def fits(self, nbytes: int) -> bool:
        """True when ``nbytes`` more can be reserved now (a lone oversize batch always fits)."""
        return self.used + nbytes <= self.limit or self.used == 0

    def reserve(self, nbytes: int, records: int, timeout: float | None) -> None:
        """Reserve room for ``records`` records of ``nbytes`` bytes, waiting if needed.

        Raises :class:`BufferFullError` after ``timeout`` seconds (0: at once, None: never).
        """
        if not self.fits(nbytes):
            self._wait_for_room(nbytes, timeout)
        self.used += nbytes
        self.records += records

    def _wait_for_room(self, nbytes: int, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._waiters += 1
        try:
            while not self.fits(nbytes):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise BufferFullError(
                        f"buffer of max_buffer_bytes={self.limit} bytes is full "
                        f"({self.used} bytes waiting for delivery) and put_timeout={timeout} s "
                        f"passed; the stream accepts records slower than they are put",
                        limit=self.limit,
                        timeout=timeout if timeout is not None else 0.0,
                        stream=self._stream,
                    )
                self._condition.wait(remaining)
        finally:
            self._waiters -= 1

    def release(self, nbytes: int, records: int) -> None:
        """Give back the room of records whose futures completed."""
        self.used -= nbytes
        self.records -= records
        if self._waiters:
            self._condition.notify_all()
