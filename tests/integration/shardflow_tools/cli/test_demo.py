"""``shardflow demo`` (what ``make run`` starts): produce, consume with the Lambda handler under the
local event source mapping (and the KCL consumer where it can run) into S3, query the output,
check, summarise, and write the HTML report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shardflow import settings
from shardflow_tools.cli import main
from shardflow_tools.report import kcl_worker

#: One consumer's report line, every field parsed.
REPORT_LINE = re.compile(
    r"^report (?P<name>\S+) +delivered=(?P<delivered>\d+) dead_lettered=(?P<dead>\d+) "
    r"duplicates=(?P<dups>\d+) latency_p50=(?P<p50>[\d.]+)s latency_p95=(?P<p95>[\d.]+)s "
    r"latency_p99=(?P<p99>[\d.]+)s throughput=(?P<tput>\d+)/s$",
    re.MULTILINE,
)


def reports(out: str) -> dict[str, dict[str, float]]:
    """The report lines of the demo's output, by consumer."""
    return {
        m["name"]: {k: float(v) for k, v in m.groupdict().items() if k != "name"}
        for m in REPORT_LINE.finditer(out)
    }


def html_path(out: str) -> Path:
    match = re.search(r"^html report +(.+)$", out, re.MULTILINE)
    assert match, out
    return Path(match[1])


def test_demo_against_the_test_endpoint(
    aws_endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    argv = ["demo", "--events", "3000", "--shards", "3", "--no-kcl", "--report", str(report)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "events sent       3000 (0 failed)" in out
    assert "events read       3000 (3000 distinct ids) by shardflow query from S3" in out
    assert "lambda handler    " in out and "(0 failed)" in out and "0 dead letters" in out
    assert "s3 output         s3://shardflow-demo-" in out
    assert "events by type    page_view: " in out
    assert "duplicates        0" in out and "order per user    kept" in out
    per_shard = next(line for line in out.splitlines() if line.startswith("per shard "))
    assert per_shard.count("shardId-") == 3
    assert "kcl consumer      NOT RUN: turned off (--no-kcl)" in out
    assert "result            OK" in out

    lambda_report = reports(out)["lambda"]
    assert lambda_report["delivered"] == 3000
    assert lambda_report["dead"] == 0 and lambda_report["dups"] == 0
    assert 0 < lambda_report["p50"] <= lambda_report["p95"] <= lambda_report["p99"]
    assert lambda_report["tput"] > 0

    # The two Athena-style queries, as typed and answered through `shardflow query`.
    assert out.count("$ shardflow query 'SELECT ") == 2
    assert re.search(r"^  page_view +\| (\d+) +\| \1$", out, re.MULTILINE)

    assert html_path(out) == report.resolve()
    page = report.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<polyline" in page
    assert "Throughput (events per second)" in page and "End-to-end latency" in page
    assert "lambda delivered" in page and "lambda p99" in page
    # Self-contained: nothing is fetched (the SVG namespace is a name, not a request).
    assert not re.search(r"(src|href)=", page)
    assert "result            OK" in page


def test_demo_flags_set_rate_and_duration(
    aws_endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["demo", "--rate", "500", "--duration", "2", "--no-kcl"]
    assert main([*argv, "--report", str(tmp_path / "r.html")]) == 0
    out = capsys.readouterr().out
    assert "run plan          1000 events at 500 events/s" in out
    assert "events sent       1000 (0 failed)" in out
    assert reports(out)["lambda"]["delivered"] == 1000


def test_demo_refuses_disagreeing_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--events", "10", "--rate", "500", "--duration", "2"]) == 1
    assert "disagree" in capsys.readouterr().err


def test_demo_starts_its_own_emulator_when_no_endpoint_is_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv(settings.ENDPOINT_URL, raising=False)
    monkeypatch.chdir(tmp_path)  # the report's default place: ./shardflow-report.html
    assert main(["demo", "--events", "500"]) == 0
    captured = capsys.readouterr()
    assert "starting the embedded emulator" in captured.err
    assert ":4566" not in captured.err  # the port of `shardflow local` stays free
    assert "result            OK" in captured.out
    assert html_path(captured.out) == tmp_path.resolve() / "shardflow-report.html"
    found = reports(captured.out)
    if kcl_worker.local_prerequisites() is None:
        # Java, the jars and a network namespace: both consumers, each all of the events.
        assert set(found) == {"lambda", "kcl"}
        assert "kcl consumer      application shardflow-demo-" in captured.out
        assert "kcl p99" in (tmp_path / "shardflow-report.html").read_text()
    else:
        assert set(found) == {"lambda"}
        assert "kcl consumer      NOT RUN: " in captured.out
    for name, line in found.items():
        assert line["delivered"] == 500 and line["dups"] == 0 and line["dead"] == 0, name


def test_without_java_the_lambda_path_runs_alone_and_says_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A fresh machine without Java (the README's front door): no KCL, the same result."""
    monkeypatch.delenv(settings.ENDPOINT_URL, raising=False)
    monkeypatch.setattr(kcl_worker, "local_prerequisites", lambda: "no Java runtime (test)")
    assert main(["demo", "--events", "500", "--report", str(tmp_path / "r.html")]) == 0
    out = capsys.readouterr().out
    assert "kcl consumer      NOT RUN: no Java runtime (test); the Lambda path ran alone" in out
    assert set(reports(out)) == {"lambda"}
    assert "result            OK" in out
