"""What ``make soak`` checks while the demo runs at a steady rate: resident memory of the
producer's and the consumers' processes at the start and the end (flat: within +10 %), the
consumers' lag at the end (no growth), and the fault-free delivery count."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shardflow_tools.report.plan import RunPlan
from shardflow_tools.report.rss import rss_bytes, tree_rss_bytes
from shardflow_tools.report.timeline import Timeline

#: RSS may grow this much from the start sample to the end one and still count as flat.
RSS_GROWTH_LIMIT = 0.10
#: The start sample is taken this far into producing: imports, JIT and buffers warm up first.
WARM_UP_SHARE = 0.15
#: The end window's mean lag may exceed the start window's by this many seconds of
#: production (the sinks flush in batches, so lag wobbles by about a flush span).
LAG_SLACK_SECONDS = 2.0
#: Lag is compared as the mean over a window of this share of the run: at its start (after
#: the warm-up) and at its end. One sample is as noisy as the sinks' batching.
LAG_WINDOW_SHARE = 0.15


@dataclass
class _Sample:
    at: float
    rss: dict[str, int]
    produced: int
    lag: dict[str, int] = field(default_factory=dict)


class SoakProbe:
    """Samples RSS and lag once a second from a thread while the producer runs.

    The Lambda consumer runs in this process with the producer (one RSS for both); ``kcl``
    is the KCL consumer (:class:`~shardflow_tools.report.kcl_worker.KclWorker`), whose RSS
    is its launcher's process tree (launcher, bridge, JVM, processors).
    """

    def __init__(self, kcl: Any, timeline: Timeline, names: Sequence[str]) -> None:
        self._kcl = kcl
        self._timeline = timeline
        self._names = list(names)
        self._samples: list[_Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-probe", daemon=True)
        self._plan: RunPlan | None = None
        self._started = 0.0
        self.sent = 0
        self.ok = True

    def _rss(self) -> dict[str, int]:
        out = {"producer + lambda (this process)": rss_bytes(os.getpid())}
        if self._kcl is not None:
            out["kcl consumer (launcher, JVM, processors)"] = tree_rss_bytes(self._kcl.pid)
        return out

    def _sample(self) -> _Sample:
        produced = sum(self._timeline.produced.values())
        sample = _Sample(time.monotonic() - self._started, self._rss(), produced)
        for name in self._names:
            sample.lag[name] = max(produced - self._timeline.series(name).count, 0)
        return sample

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self._samples.append(self._sample())

    def start(self, plan: RunPlan) -> None:
        """Start sampling as producing starts."""
        self._plan = plan
        self._started = time.monotonic()
        self._thread.start()

    def finish(self, sent: int) -> None:
        """Producing ended with ``sent`` events acknowledged: take the end sample."""
        self._stop.set()
        self._thread.join(timeout=10)
        self._samples.append(self._sample())
        self.sent = sent

    def lines(self) -> list[str]:
        """The soak's report lines; sets :attr:`ok`."""
        if not self._samples or self._plan is None:
            return ["soak              no samples"]
        duration = self._samples[-1].at
        start = next(
            (s for s in self._samples if s.at >= duration * WARM_UP_SHARE), self._samples[0]
        )
        end = self._samples[-1]
        lines = [
            f"soak              {duration:.0f} s at {self._plan.rate:,.0f} events/s; start "
            f"sample at {start.at:.0f} s (after warm-up), end sample at {end.at:.0f} s"
        ]
        for name, before in start.rss.items():
            after = end.rss.get(name, 0)
            growth = (after - before) / max(before, 1)
            flat = growth <= RSS_GROWTH_LIMIT
            self.ok = self.ok and flat
            lines.append(
                f"soak rss          {name}: {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB "
                f"({growth:+.1%}, {'flat' if flat else 'GREW'})"
            )
        slack = self._plan.rate * LAG_SLACK_SECONDS
        first = [
            s for s in self._samples if start.at <= s.at <= start.at + duration * LAG_WINDOW_SHARE
        ]
        last = [s for s in self._samples if s.at >= duration * (1 - LAG_WINDOW_SHARE)]
        for name in self._names:
            early = _mean([s.lag.get(name, 0) for s in first or [start]])
            late = _mean([s.lag.get(name, 0) for s in last or [end]])
            steady = late <= early + slack
            self.ok = self.ok and steady
            lines.append(
                f"soak lag          {name}: {end.lag.get(name, 0)} events behind when producing "
                f"ended; mean {late:.0f} over the last {LAG_WINDOW_SHARE:.0%} of the run, "
                f"{early:.0f} after the warm-up ({'no growth' if steady else 'GREW'})"
            )
        lines.append(f"soak delivered    {self.sent} events acknowledged, no fault injected")
        return lines


def _mean(values: Sequence[float]) -> float:
    return sum(values) / max(len(values), 1)
