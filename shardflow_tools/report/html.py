"""The report as one self-contained HTML file: the summary lines and an inline SVG chart of
throughput and latency over time. No script, stylesheet, font or image is loaded from
anywhere: the file opens the same offline."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from shardflow_tools.report.latency import LatencyHistogram
from shardflow_tools.report.timeline import Timeline

_WIDTH: Final = 900
_PANEL: Final = 220
_LEFT: Final = 70
_RIGHT: Final = 160
_TOP: Final = 30
_GAP: Final = 60
#: A chart of a longer run averages over buckets of several seconds to keep this many points.
_MAX_POINTS: Final = 60
#: Line colours per series, in order (produced first).
_COLOURS: Final = ("#888888", "#1f77b4", "#d62728", "#2ca02c", "#9467bd")


@dataclass(frozen=True)
class Series:
    """One line of a panel: its legend, its points (second, value) and its style."""

    label: str
    points: Sequence[tuple[int, float]]
    colour: str
    dashed: bool = False


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 10 ** len(str(int(value))) / 10 if value >= 1 else 0.1
    while step * 10 < value:
        step *= 10
    for factor in (1, 2, 2.5, 5, 10):
        if step * factor >= value:
            return step * factor
    return step * 10


def _panel(title: str, unit: str, series: Sequence[Series], seconds: int, top: int) -> str:
    """One chart panel as SVG elements, its plot area starting ``top`` pixels down."""
    plot_w = _WIDTH - _LEFT - _RIGHT
    ymax = _nice_max(max((v for s in series for _, v in s.points), default=0.0))
    span = max(seconds - 1, 1)

    def x(sec: float) -> float:
        return _LEFT + plot_w * sec / span

    def y(value: float) -> float:
        return top + _PANEL - _PANEL * value / ymax

    parts = [
        f'<text x="{_LEFT}" y="{top - 10}" class="title">{html.escape(title)}</text>',
        f'<rect x="{_LEFT}" y="{top}" width="{plot_w}" height="{_PANEL}" class="plot"/>',
    ]
    for i in range(5):
        value = ymax * i / 4
        parts.append(
            f'<line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            'class="grid"/>'
            f'<text x="{_LEFT - 6}" y="{y(value) + 4:.1f}" class="tick" text-anchor="end">'
            f"{value:g}</text>"
        )
    step = max(1, round(span / 10))
    for sec in range(0, span + 1, step):
        parts.append(
            f'<text x="{x(sec):.1f}" y="{top + _PANEL + 16}" class="tick" '
            f'text-anchor="middle">{sec}</text>'
        )
    parts.append(
        f'<text x="{_LEFT + plot_w / 2}" y="{top + _PANEL + 34}" class="tick" '
        'text-anchor="middle">seconds since the first put</text>'
        f'<text x="16" y="{top + _PANEL / 2}" class="tick" text-anchor="middle" '
        f'transform="rotate(-90 16 {top + _PANEL / 2})">{html.escape(unit)}</text>'
    )
    for n, s in enumerate(series):
        if s.points:
            path = " ".join(f"{x(sec):.1f},{y(v):.1f}" for sec, v in s.points)
            dash = ' stroke-dasharray="6 4"' if s.dashed else ""
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{s.colour}" '
                f'stroke-width="2"{dash}><title>{html.escape(s.label)}</title></polyline>'
            )
        ly = top + 14 + 18 * n
        lx = _LEFT + plot_w + 12
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        parts.append(
            f'<line x1="{lx}" x2="{lx + 24}" y1="{ly - 4}" y2="{ly - 4}" stroke="{s.colour}" '
            f'stroke-width="2"{dash}/>'
            f'<text x="{lx + 30}" y="{ly}" class="legend">{html.escape(s.label)}</text>'
        )
    return "\n".join(parts)


def bucket_seconds(seconds: int) -> int:
    """Seconds per point of the chart: 1 up to a minute, then enough for ~60 points (the
    sinks write in batches, so per-second counts of a long run are mostly 0 or a batch)."""
    return max(1, math.ceil(seconds / _MAX_POINTS))


def _rates(counts: Mapping[int, int], seconds: int, width: int) -> list[tuple[int, float]]:
    return [
        (start, sum(counts.get(s, 0) for s in range(start, start + width)) / width)
        for start in range(0, seconds, width)
    ]


def _percentiles(
    hists: Mapping[int, LatencyHistogram], width: int
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    merged: dict[int, LatencyHistogram] = {}
    for sec, hist in hists.items():
        merged.setdefault(sec - sec % width, LatencyHistogram()).merge(hist)
    p50 = [(sec, merged[sec].percentile(50) or 0.0) for sec in sorted(merged)]
    p99 = [(sec, merged[sec].percentile(99) or 0.0) for sec in sorted(merged)]
    return p50, p99


def chart_svg(timeline: Timeline, consumers: Sequence[str]) -> str:
    """Two panels, one SVG: events per second (produced and each consumer's delivered), and
    each consumer's end-to-end latency p50 and p99 by time of delivery; a long run's points
    each cover :func:`bucket_seconds` seconds."""
    seconds = max(timeline.seconds(), 2)
    width = bucket_seconds(seconds)
    per = "" if width == 1 else f", {width}-second averages"
    throughput = [Series("produced", _rates(timeline.produced, seconds, width), _COLOURS[0])]
    latency: list[Series] = []
    for i, name in enumerate(consumers):
        colour = _COLOURS[1 + i % (len(_COLOURS) - 1)]
        data = timeline.series(name)
        throughput.append(
            Series(f"{name} delivered", _rates(data.delivered, seconds, width), colour)
        )
        p50, p99 = _percentiles(data.latency, width)
        latency.append(Series(f"{name} p50", p50, colour))
        latency.append(Series(f"{name} p99", p99, colour, dashed=True))
    height = _TOP + 2 * _PANEL + _GAP + 50
    top2 = _TOP + _PANEL + _GAP
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
        f'viewBox="0 0 {_WIDTH} {height}" role="img" '
        'aria-label="throughput and end-to-end latency over time">\n'
        "<style>.title{font:bold 14px sans-serif}.tick,.legend{font:12px sans-serif}"
        ".plot{fill:#fafafa;stroke:#ccc}.grid{stroke:#e4e4e4}</style>\n"
        + _panel(f"Throughput (events per second{per})", "events/s", throughput, seconds, _TOP)
        + "\n"
        + _panel(
            f"End-to-end latency: put -> visible in S3 (p50 solid, p99 dashed{per})",
            "seconds",
            latency,
            seconds,
            top2,
        )
        + "\n</svg>"
    )


def render(title: str, lines: Sequence[str], timeline: Timeline, consumers: Sequence[str]) -> str:
    """The whole HTML document."""
    text = html.escape("\n".join(lines))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}pre{background:#f4f4f4;padding:1em;"
        "overflow-x:auto}</style></head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n"
        f"{chart_svg(timeline, consumers)}\n<pre>{text}</pre>\n</body></html>\n"
    )


def write(
    path: Path, title: str, lines: Sequence[str], timeline: Timeline, consumers: Sequence[str]
) -> Path:
    """Write the report to ``path`` (folders created); the absolute path."""
    path = path.expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(title, lines, timeline, consumers), encoding="utf-8")
    return path
