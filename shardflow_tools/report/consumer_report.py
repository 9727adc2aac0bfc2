"""One consumer's line of the pipeline report: delivered, dead-lettered, duplicates,
end-to-end latency p50/p95/p99 and throughput, in ``key=value`` form (scripts parse it)."""

from __future__ import annotations

from dataclasses import dataclass

from shardflow_tools.report.timeline import Timeline


@dataclass(frozen=True)
class ConsumerReport:
    """One consumer's line of the report."""

    name: str
    delivered: int
    dead_lettered: int
    duplicates: int
    p50: float | None
    p95: float | None
    p99: float | None
    throughput: float

    def line(self) -> str:
        """``report NAME delivered=N dead_lettered=N duplicates=N latency_p50=S ...``."""

        def sec(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}s"

        return (
            f"report {self.name:<10} delivered={self.delivered} "
            f"dead_lettered={self.dead_lettered} duplicates={self.duplicates} "
            f"latency_p50={sec(self.p50)} latency_p95={sec(self.p95)} "
            f"latency_p99={sec(self.p99)} throughput={self.throughput:.0f}/s"
        )


def consumer_report(
    name: str, timeline: Timeline, *, rows: int, distinct_ids: int, dead_letters: int
) -> ConsumerReport:
    """What ``name`` delivered (``rows`` and ``distinct_ids`` read back by the query), how
    late and how fast (from the :class:`Timeline` its observer filled)."""
    series = timeline.series(name)
    hist = series.total
    span = (series.last_visible or timeline.started) - timeline.started
    return ConsumerReport(
        name=name,
        delivered=distinct_ids,
        dead_lettered=dead_letters,
        duplicates=rows - distinct_ids,
        p50=hist.percentile(50),
        p95=hist.percentile(95),
        p99=hist.percentile(99),
        throughput=series.count / max(span, 1e-9),
    )
