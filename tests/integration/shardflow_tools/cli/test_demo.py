"""``shardflow demo`` (what ``make run`` starts): produce, consume with the Lambda handler under
the local event source mapping into S3, query the output, check, summarise."""

from __future__ import annotations

import pytest

from shardflow import settings
from shardflow_tools.cli import main


def test_demo_against_the_test_endpoint(
    aws_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--events", "3000", "--shards", "3"]) == 0
    out = capsys.readouterr().out
    assert "events sent       3000 (0 failed)" in out
    assert "events read       3000 (3000 distinct ids) by shardflow query from S3" in out
    assert "lambda handler    " in out and "(0 failed)" in out and "0 dead letters" in out
    assert "s3 output         s3://shardflow-demo-" in out
    assert "events by type    page_view: " in out
    assert "duplicates        0" in out and "order per user    kept" in out
    assert out.count("shardId-") == 3
    assert "result            OK" in out


def test_demo_starts_its_own_emulator_when_no_endpoint_is_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(settings.ENDPOINT_URL, raising=False)
    assert main(["demo", "--events", "500"]) == 0
    captured = capsys.readouterr()
    assert "starting the embedded emulator" in captured.err
    assert ":4566" not in captured.err  # the port of `shardflow local` stays free
    assert "result            OK" in captured.out
