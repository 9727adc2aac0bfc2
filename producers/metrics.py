"""Producer metrics behind a small collector interface.

The producer reports once per PutRecords call (never per event), through a
:class:`MetricsCollector`: :class:`NullMetrics` (the default) drops everything,
:class:`InMemoryMetrics` keeps totals for tests and dashboards in-process, and
:class:`EmfMetrics` writes CloudWatch Embedded Metric Format documents to a text stream or
a logger, which CloudWatch Logs turns into metrics (in Lambda: just print to stdout).

Metric names (constants of :class:`Metric`):

=====================  =====  ======================================================
name                   unit   meaning
=====================  =====  ======================================================
UserRecordsPut         Count  events delivered
KinesisRecordsPut      Count  Kinesis records delivered (aggregates count once)
BytesPut               Bytes  bytes of delivered Kinesis records (data + key)
UserRecordsFailed      Count  events that ended in an error
Retries                Count  Kinesis records sent again after a failure
Throttles              Count  entries answered with a throttling code (any, per call too)
RequestLatency         ms     duration of one PutRecords call
BufferingTime          ms     put of a batch's oldest event until its delivery
ShardMapRefreshes      Count  ListShards refreshes of the shard map
MisplacedRecords       Count  events re-sent because they landed outside their shard
=====================  =====  ======================================================
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Final, Protocol, TextIO, runtime_checkable

import orjson

logger = logging.getLogger(__name__)

__all__ = ["EmfMetrics", "InMemoryMetrics", "Metric", "MetricsCollector", "NullMetrics"]


class Metric:
    """The names the producer reports."""

    USER_RECORDS_PUT: Final = "UserRecordsPut"
    KINESIS_RECORDS_PUT: Final = "KinesisRecordsPut"
    BYTES_PUT: Final = "BytesPut"
    USER_RECORDS_FAILED: Final = "UserRecordsFailed"
    RETRIES: Final = "Retries"
    THROTTLES: Final = "Throttles"
    REQUEST_LATENCY: Final = "RequestLatency"
    BUFFERING_TIME: Final = "BufferingTime"
    SHARD_MAP_REFRESHES: Final = "ShardMapRefreshes"
    MISPLACED_RECORDS: Final = "MisplacedRecords"


_UNITS: Final = {
    Metric.BYTES_PUT: "Bytes",
    Metric.REQUEST_LATENCY: "Milliseconds",
    Metric.BUFFERING_TIME: "Milliseconds",
}


@runtime_checkable
class MetricsCollector(Protocol):
    """Where the producer reports counters and timings. Implementations must be thread-safe."""

    def increment(self, name: str, value: int = 1) -> None:
        """Add ``value`` to counter ``name``."""

    def observe(self, name: str, value: float) -> None:
        """Record one observation (a latency in milliseconds)."""

    def flush(self) -> None:
        """Emit what was collected (called by the producer's ``flush`` and ``close``)."""


class _Guarded:
    """A user's collector, with its exceptions logged instead of raised.

    The producer reports from its sender threads in the middle of completing records: a
    collector that raises (a closed output stream, a bug) must not strand them.
    """

    __slots__ = ("_failures", "_inner")

    def __init__(self, inner: MetricsCollector) -> None:
        self._inner = inner
        self._failures = 0

    def _failed(self, what: str) -> None:
        self._failures += 1
        if self._failures == 1 or self._failures % 1000 == 0:
            logger.exception(
                "metrics collector %r failed in %s (%d failures so far); the producer goes on",
                self._inner,
                what,
                self._failures,
            )

    def increment(self, name: str, value: int = 1) -> None:
        try:
            self._inner.increment(name, value)
        except Exception:
            self._failed("increment")

    def observe(self, name: str, value: float) -> None:
        try:
            self._inner.observe(name, value)
        except Exception:
            self._failed("observe")

    def flush(self) -> None:
        try:
            self._inner.flush()
        except Exception:
            self._failed("flush")


def guarded(collector: MetricsCollector | None) -> MetricsCollector:
    """The collector the producer reports to: :class:`NullMetrics` for None, the shardflow
    collectors that cannot raise as they are, anything else behind a guard."""
    if collector is None:
        return NullMetrics()
    if type(collector) in (NullMetrics, InMemoryMetrics):
        return collector
    return _Guarded(collector)


class NullMetrics:
    """Discards everything: the default, so metrics cost nothing unless asked for."""

    def increment(self, name: str, value: int = 1) -> None:
        """Do nothing."""

    def observe(self, name: str, value: float) -> None:
        """Do nothing."""

    def flush(self) -> None:
        """Do nothing."""


class InMemoryMetrics:
    """Keeps counters and observations in memory; read them with :meth:`snapshot`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: defaultdict[str, int] = defaultdict(int)
        self._observations: defaultdict[str, list[float]] = defaultdict(list)

    def increment(self, name: str, value: int = 1) -> None:
        """Add ``value`` to counter ``name``."""
        with self._lock:
            self._counters[name] += value

    def observe(self, name: str, value: float) -> None:
        """Append an observation."""
        with self._lock:
            self._observations[name].append(value)

    def flush(self) -> None:
        """Nothing to emit: the values stay readable."""

    def counter(self, name: str) -> int:
        """The current value of counter ``name`` (0 if never incremented)."""
        with self._lock:
            return self._counters.get(name, 0)

    def observations(self, name: str) -> list[float]:
        """A copy of the observations of ``name``."""
        with self._lock:
            return list(self._observations.get(name, ()))

    def snapshot(self) -> dict[str, int]:
        """All counters."""
        with self._lock:
            return dict(self._counters)


#: EMF allows at most 100 values per metric in one document, 30 keys per dimension set.
_EMF_MAX_VALUES: Final = 100
_EMF_MAX_DIMENSIONS: Final = 30


class EmfMetrics:
    """CloudWatch Embedded Metric Format: one JSON document per flush.

    ``output`` is a text stream (default ``sys.stdout``, which is what Lambda sends to
    CloudWatch Logs), a :class:`logging.Logger` (written at INFO) or any callable taking
    the line. Counters are summed between flushes; observations are written as value
    arrays (several documents when there are more than 100). Besides the producer's own
    ``flush``/``close``, a document is written whenever ``interval`` seconds have passed
    since the last one.
    """

    def __init__(
        self,
        namespace: str = "shardflow/producer",
        *,
        dimensions: Mapping[str, str] | None = None,
        output: TextIO | logging.Logger | Callable[[str], object] | None = None,
        interval: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # CloudWatch drops a document that breaks the EMF specification without a word:
        # refuse such settings here instead.
        if not isinstance(namespace, str) or not 0 < len(namespace) <= 255:
            raise ValueError(f"namespace must be a string of 1 to 255 characters: {namespace!r}")
        dims = dict(dimensions or {})
        if len(dims) > _EMF_MAX_DIMENSIONS:
            raise ValueError(
                f"EMF allows at most {_EMF_MAX_DIMENSIONS} dimensions, got {len(dims)}"
            )
        for key, value in dims.items():
            if not (isinstance(key, str) and isinstance(value, str) and key and value):
                raise ValueError(f"dimension {key!r}={value!r}: names and values must be strings")
        self._namespace = namespace
        self._dimensions = dims
        target = sys.stdout if output is None else output
        self._write: Callable[[str], object]
        if isinstance(target, logging.Logger):
            self._write = target.info
        elif callable(target):
            self._write = target
        else:
            stream = target

            def write(line: str) -> None:
                stream.write(line + "\n")
                stream.flush()

            self._write = write
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {}
        self._observations: dict[str, list[float]] = {}
        self._last_emit = clock()

    def increment(self, name: str, value: int = 1) -> None:
        """Add ``value`` to counter ``name``."""
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + value
        self._maybe_emit()

    def observe(self, name: str, value: float) -> None:
        """Record one observation."""
        with self._lock:
            self._observations.setdefault(name, []).append(value)
        self._maybe_emit()

    def _maybe_emit(self) -> None:
        if self._clock() - self._last_emit >= self._interval:
            self.flush()

    def flush(self) -> None:
        """Write what was collected since the last document (nothing if empty)."""
        with self._lock:
            counters, self._counters = self._counters, {}
            observations, self._observations = self._observations, {}
            self._last_emit = self._clock()
        if not counters and not observations:
            return
        documents: list[dict[str, list[float] | int]] = [dict(counters)]
        for name, values in observations.items():
            for i in range(0, len(values), _EMF_MAX_VALUES):
                chunk = values[i : i + _EMF_MAX_VALUES]
                slot = i // _EMF_MAX_VALUES
                while len(documents) <= slot:
                    documents.append({})
                documents[slot][name] = chunk
        for values_by_name in documents:
            if values_by_name:
                self._write(self._document(values_by_name))

    def _document(self, values: Mapping[str, list[float] | int]) -> str:
        doc: dict[str, object] = {
            "_aws": {
                "Timestamp": int(self._clock() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self._namespace,
                        "Dimensions": [sorted(self._dimensions)],
                        "Metrics": [
                            {"Name": name, "Unit": _UNITS.get(name, "Count")} for name in values
                        ],
                    }
                ],
            },
            **self._dimensions,
            **values,
        }
        return orjson.dumps(doc).decode()
