"""Backpressure: a bounded count of buffered bytes that ``put`` waits on.

Every record holds its size (data plus partition key) from ``put`` until its future
completes. When the total would pass ``max_buffer_bytes``, ``put`` waits for deliveries to
free room, up to ``put_timeout`` seconds, and then raises
:class:`~producers.BufferFullError`: an application that produces faster than the stream
accepts is slowed down, and told when it waited too long, instead of growing without bound
or losing records.

The budget also holds the level at which ``put`` wakes a sender thread (a full request
may be ready): the sender sets it each time it plans a request (:meth:`ByteBudget.wake_after`),
and reserving reports when the level is reached. One check per record does both.

The budget shares the producer's lock (it is passed the producer's condition variable),
so reserving room costs no extra lock acquisition in ``put``. :meth:`ByteBudget.try_reserve`
is the one rule for what fits; ``put`` calls it first and :meth:`ByteBudget.reserve` (which
waits) only when the buffer is full.
"""

from __future__ import annotations

import threading
import time
from typing import Final

from producers.exceptions import BufferFullError

__all__ = ["NO_ROOM", "RESERVED", "WAKE", "ByteBudget"]

#: :meth:`ByteBudget.try_reserve`: nothing reserved, the buffer is full.
NO_ROOM: Final = 0
#: Reserved.
RESERVED: Final = 1
#: Reserved, and the buffer reached the wake level (which is cleared until the next
#: :meth:`ByteBudget.wake_after`).
WAKE: Final = 2
_NEVER: Final = 1 << 62


class ByteBudget:
    """Reserve and release buffered bytes under the caller's lock.

    All methods must be called with ``condition``'s lock held.
    """

    __slots__ = (
        "_condition",
        "_stream",
        "_waiters",
        "_wake_bytes",
        "_wake_records",
        "limit",
        "records",
        "used",
    )

    def __init__(self, limit: int, condition: threading.Condition, *, stream: str) -> None:
        #: The most bytes that may be buffered.
        self.limit = limit
        self._condition = condition
        self._stream = stream
        self._waiters = 0
        #: Bytes and records reserved and not yet released.
        self.used = 0
        self.records = 0
        self._wake_bytes = self._wake_records = _NEVER

    def wake_after(self, nbytes: int, records: int | None) -> None:
        """Report :data:`WAKE` once ``nbytes`` more bytes (or ``records`` more records;
        None: no record count) are buffered than now."""
        self._wake_bytes = self.used + nbytes
        self._wake_records = _NEVER if records is None else self.records + records

    def try_reserve(self, nbytes: int, records: int = 1) -> int:
        """Reserve room for ``records`` records of ``nbytes`` bytes if it is free now.

        Returns :data:`NO_ROOM` (nothing reserved), :data:`RESERVED` or :data:`WAKE`. A
        lone oversize batch always fits.
        """
        used = self.used
        if used and used + nbytes > self.limit:
            return NO_ROOM
        used += nbytes
        self.used = used
        count = self.records + records
        self.records = count
        if used >= self._wake_bytes or count >= self._wake_records:
            self._wake_bytes = self._wake_records = _NEVER
            return WAKE
        return RESERVED

    def reserve(self, nbytes: int, records: int, timeout: float | None) -> int:
        """:meth:`try_reserve`, waiting (the lock released) while there is no room.

        Returns :data:`RESERVED` or :data:`WAKE`; raises :class:`BufferFullError` after
        ``timeout`` seconds (0: at once, None: never).
        """
        reserved = self.try_reserve(nbytes, records)
        if reserved:
            return reserved
        deadline = None if timeout is None else time.monotonic() + timeout
        self._waiters += 1
        try:
            while not (reserved := self.try_reserve(nbytes, records)):
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
            return reserved
        finally:
            self._waiters -= 1

    def release(self, nbytes: int, records: int) -> None:
        """Give back the room of records whose futures completed."""
        self.used -= nbytes
        self.records -= records
        if self._waiters:
            self._condition.notify_all()
