"""Per-record outcomes: :class:`RecordFuture` and what it resolves to.

A future is created for every ``put`` and completed exactly once, with a
:class:`PutResult` or with the :class:`~producers.ProducerError` that ended the record's
delivery. Futures are deliberately lighter than :class:`concurrent.futures.Future`: the
producer creates hundreds of thousands per second, so a future is three slots, its wait
event is created only when somebody actually waits, and all the futures of one Kinesis
record are completed together under one module-level lock (one acquisition per record
batch, not per event).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from producers.exceptions import ProducerError

__all__ = ["FailedRecord", "PutResult", "RecordFuture"]

logger = logging.getLogger(__name__)

# Guards the rare paths (creating a wait event, adding a callback) against the batch
# completion; completing a batch takes it once.
_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class PutResult:
    """Where a record landed.

    ``sub_sequence_number`` is the record's index inside its KPL aggregate (the KCL's
    sub-sequence number), or None when the record was sent as a plain Kinesis record.
    ``attempts`` counts the PutRecords calls that carried it (1 when it went through first
    time).
    """

    shard_id: str
    sequence_number: str
    sub_sequence_number: int | None
    attempts: int

    @property
    def aggregated(self) -> bool:
        """True when the record travelled inside a KPL aggregate."""
        return self.sub_sequence_number is not None


class _Delivery:
    """What the records of one Kinesis record share: shard, sequence number, attempts."""

    __slots__ = ("aggregated", "attempts", "sequence_number", "shard_id")

    def __init__(
        self, shard_id: str, sequence_number: str, attempts: int, aggregated: bool
    ) -> None:
        self.shard_id = shard_id
        self.sequence_number = sequence_number
        self.attempts = attempts
        self.aggregated = aggregated


_Callback = Callable[["RecordFuture"], object]


class _Listeners:
    """Who waits for a future: created on the rare path, so a future has one slot for it."""

    __slots__ = ("callbacks", "waiter")

    def __init__(self) -> None:
        self.waiter: threading.Event | None = None
        self.callbacks: list[_Callback] = []


class RecordFuture:
    """The outcome of one ``put``: :meth:`result` blocks until the record is delivered.

    >>> future = producer.put({"type": "t", "data": {}}, partition_key="k")  # doctest: +SKIP
    >>> future.result(timeout=30).shard_id                                   # doctest: +SKIP
    'shardId-000000000001'
    """

    __slots__ = ("_listeners", "_outcome", "_sub")

    def __init__(self) -> None:
        self._outcome: _Delivery | ProducerError | None = None
        # Index inside the aggregate; set by the batcher when the record is added.
        self._sub = 0
        self._listeners: _Listeners | None = None

    def __repr__(self) -> str:
        outcome = self._outcome
        if outcome is None:
            return "<RecordFuture pending>"
        if isinstance(outcome, ProducerError):
            return f"<RecordFuture failed: {type(outcome).__name__}>"
        return f"<RecordFuture delivered to {outcome.shard_id}>"

    def done(self) -> bool:
        """True once the record was delivered or failed."""
        return self._outcome is not None

    def _wait(self, timeout: float | None) -> _Delivery | ProducerError:
        outcome = self._outcome
        if outcome is not None:
            return outcome
        with _LOCK:
            outcome = self._outcome
            if outcome is not None:
                return outcome
            listeners = self._listeners
            if listeners is None:
                listeners = self._listeners = _Listeners()
            if listeners.waiter is None:
                listeners.waiter = threading.Event()
            waiter = listeners.waiter
        if not waiter.wait(timeout):
            raise TimeoutError(f"record not completed within {timeout} s")
        outcome = self._outcome
        assert outcome is not None
        return outcome

    def result(self, timeout: float | None = None) -> PutResult:
        """Where the record landed; raises the error that ended its delivery.

        Raises :class:`TimeoutError` when ``timeout`` seconds pass first (the record may
        still be delivered later).
        """
        outcome = self._wait(timeout)
        if isinstance(outcome, ProducerError):
            raise outcome
        return PutResult(
            outcome.shard_id,
            outcome.sequence_number,
            self._sub if outcome.aggregated else None,
            outcome.attempts,
        )

    def exception(self, timeout: float | None = None) -> ProducerError | None:
        """The error that ended the record's delivery, or None once it was delivered."""
        outcome = self._wait(timeout)
        return outcome if isinstance(outcome, ProducerError) else None

    def add_done_callback(self, fn: _Callback) -> None:
        """Call ``fn(future)`` when the future completes (now, if it already has).

        Callbacks run in the producer's sender thread: keep them short and do not call
        ``flush`` or ``close`` from them. Exceptions they raise are logged.
        """
        with _LOCK:
            if self._outcome is None:
                if self._listeners is None:
                    self._listeners = _Listeners()
                self._listeners.callbacks.append(fn)
                return
        _run_callback(fn, self)


def _run_callback(fn: _Callback, future: RecordFuture) -> None:
    try:
        fn(future)
    except Exception:
        logger.exception("exception in a RecordFuture done callback")


def complete(futures: Iterable[RecordFuture], outcome: _Delivery | ProducerError) -> None:
    """Complete every future in ``futures`` with the same outcome (one lock acquisition)."""
    woken: list[RecordFuture] | None = None
    with _LOCK:
        for fut in futures:
            fut._outcome = outcome
            if fut._listeners is not None:
                if woken is None:
                    woken = []
                woken.append(fut)
    if woken:
        _wake(woken)


def _wake(futures: list[RecordFuture]) -> None:
    for fut in futures:
        listeners = fut._listeners
        assert listeners is not None  # complete() wakes only futures with listeners
        if listeners.waiter is not None:
            listeners.waiter.set()
        # Callbacks run once: a callback added from now on runs at once (done).
        callbacks, listeners.callbacks = listeners.callbacks, []
        for fn in callbacks:
            _run_callback(fn, fut)


@dataclass(frozen=True, slots=True)
class FailedRecord:
    """A record that could not be delivered, as passed to the producer's ``on_failure``.

    ``data`` is the record's bytes as they would have been written (the serialised
    envelope, or the caller's raw bytes), so the callback can store it elsewhere.
    """

    partition_key: str
    data: bytes
    explicit_hash_key: str | None
    error: ProducerError
    future: RecordFuture
