"""A latency histogram of fixed size: log-spaced buckets, percentiles within 5 %.

A soak run sees hundreds of thousands of events; keeping each latency would make the
process's memory grow with the run, which is what the soak checks does not happen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

#: Bucket ``i`` holds latencies in [_BASE * _RATIO**i, _BASE * _RATIO**(i+1)) seconds.
_BASE: Final = 0.001
_RATIO: Final = 1.05
#: Up to 1 ms * 1.05**300 ≈ 2,300 s; anything later lands in the last bucket.
_BUCKETS: Final = 300
_LOG_RATIO: Final = math.log(_RATIO)


def _bucket(seconds: float) -> int:
    if seconds <= _BASE:
        return 0
    return min(int(math.log(seconds / _BASE) / _LOG_RATIO), _BUCKETS - 1)


def _upper(index: int) -> float:
    return _BASE * _RATIO ** (index + 1)


@dataclass
class LatencyHistogram:
    """Counts of latencies (seconds) in log-spaced buckets; :meth:`percentile` reads it."""

    counts: list[int] = field(default_factory=lambda: [0] * _BUCKETS)
    total: int = 0
    maximum: float = 0.0

    def add(self, seconds: float, count: int = 1) -> None:
        """Note ``count`` events that took ``seconds`` (a negative clock skew counts as 0)."""
        seconds = max(seconds, 0.0)
        self.counts[_bucket(seconds)] += count
        self.total += count
        self.maximum = max(self.maximum, seconds)

    def merge(self, other: LatencyHistogram) -> None:
        """Add every count of ``other`` to this histogram."""
        for i, n in enumerate(other.counts):
            self.counts[i] += n
        self.total += other.total
        self.maximum = max(self.maximum, other.maximum)

    def percentile(self, p: float) -> float | None:
        """The ``p``-th percentile (0 < p <= 100) in seconds, the upper edge of its bucket
        (never above the largest latency seen); None when empty."""
        if not 0 < p <= 100:
            raise ValueError(f"percentile {p} is outside (0, 100]")
        if self.total == 0:
            return None
        rank = math.ceil(self.total * p / 100)
        seen = 0
        for i, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                return min(_upper(i), self.maximum)
        return self.maximum
