"""The HTML report: one file, an inline SVG chart of throughput and latency, nothing loaded."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from shardflow_tools.report import html
from shardflow_tools.report.timeline import Timeline


def _timeline() -> Timeline:
    timeline = Timeline(started=1000.0)
    for sec in range(5):
        timeline.note_produced(1000.0 + sec + 0.5, count=100)
        timeline.note_visible("lambda", 1000.0 + sec + 0.9, [1000.0 + sec + 0.5] * 100)
    timeline.note_visible("kcl", 1004.9, [1000.5] * 500)
    return timeline


def test_the_chart_has_a_line_per_series_and_a_legend() -> None:
    svg = html.chart_svg(_timeline(), ["lambda", "kcl"])
    root = ET.fromstring(svg)  # well-formed SVG
    ns = "{http://www.w3.org/2000/svg}"
    titles = [t.text for t in root.iter(f"{ns}title")]
    assert titles == [
        "produced",
        "lambda delivered",
        "kcl delivered",
        "lambda p50",
        "lambda p99",
        "kcl p50",
        "kcl p99",
    ]
    lines = {p.find(f"{ns}title").text: p for p in root.iter(f"{ns}polyline")}  # type: ignore[union-attr]
    assert len(lines["produced"].get("points", "").split()) == 5
    assert lines["kcl p99"].get("stroke-dasharray") == "6 4"


def test_the_page_is_self_contained_and_escapes_the_lines(tmp_path: Path) -> None:
    path = html.write(
        tmp_path / "sub" / "r.html", "report <x>", ["a < b", "result OK"], _timeline(), ["lambda"]
    )
    page = path.read_text()
    assert path.is_absolute() and page.startswith("<!DOCTYPE html>")
    assert "report &lt;x&gt;" in page and "a &lt; b" in page
    assert not re.search(r"(src|href)=|@import|url\(", page)


def test_an_empty_run_still_renders() -> None:
    assert "<svg" in html.chart_svg(Timeline(started=0.0), ["lambda"])


def test_a_long_run_is_charted_in_buckets_of_several_seconds() -> None:
    timeline = Timeline(started=0.0)
    for sec in range(600):
        timeline.note_produced(sec + 0.5, count=500)
        if sec % 10 == 0:  # a batch every ten seconds: per-second counts would be 0 or 5000
            timeline.note_visible("lambda", sec + 0.9, [sec + 0.5] * 5000)
    svg = html.chart_svg(timeline, ["lambda"])
    assert html.bucket_seconds(600) == 10
    assert "10-second averages" in svg
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    lines = {p.find(f"{ns}title").text: p for p in root.iter(f"{ns}polyline")}  # type: ignore[union-attr]
    delivered = lines["lambda delivered"].get("points", "").split()
    produced = lines["produced"].get("points", "").split()
    assert len(delivered) == len(produced) == 60
    assert len({point.split(",")[1] for point in delivered}) == 1  # a flat 500 events/s
