"""Per-second series of a run: events produced, events delivered per consumer, and their
latency, for the report's numbers and its chart."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field

from shardflow_tools.report.latency import LatencyHistogram


@dataclass
class ConsumerSeries:
    """What one consumer delivered: per second of the run (since its start), the events
    that became visible and their latency; and the totals."""

    delivered: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    latency: dict[int, LatencyHistogram] = field(
        default_factory=lambda: defaultdict(LatencyHistogram)
    )
    total: LatencyHistogram = field(default_factory=LatencyHistogram)
    first_visible: float | None = None
    last_visible: float | None = None

    @property
    def count(self) -> int:
        """Events delivered (rows visible in S3, duplicates included)."""
        return self.total.total


class Timeline:
    """The run's clock (wall time, as the events' ``time`` is) and its series; thread-safe."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.produced: dict[int, int] = defaultdict(int)
        self.consumers: dict[str, ConsumerSeries] = {}
        self._lock = threading.Lock()

    def second(self, wall: float) -> int:
        """The run's second ``wall`` falls in (0 at the start)."""
        return max(int(wall - self.started), 0)

    def note_produced(self, wall: float, count: int = 1) -> None:
        """``count`` events put at ``wall``."""
        with self._lock:
            self.produced[self.second(wall)] += count

    def note_visible(self, consumer: str, visible: float, put_times: list[float]) -> None:
        """Events put at ``put_times`` became visible in ``consumer``'s output at ``visible``."""
        with self._lock:
            series = self.consumers.setdefault(consumer, ConsumerSeries())
            sec = self.second(visible)
            series.delivered[sec] += len(put_times)
            bucket = series.latency[sec]
            for put in put_times:
                bucket.add(visible - put)
                series.total.add(visible - put)
            if series.first_visible is None:
                series.first_visible = visible
            series.last_visible = visible

    def series(self, consumer: str) -> ConsumerSeries:
        """The series of ``consumer`` (empty if it delivered nothing)."""
        with self._lock:
            return self.consumers.setdefault(consumer, ConsumerSeries())

    def seconds(self) -> int:
        """How many seconds the series span."""
        with self._lock:
            keys = list(self.produced)
            for series in self.consumers.values():
                keys += list(series.delivered)
        return max(keys, default=-1) + 1
