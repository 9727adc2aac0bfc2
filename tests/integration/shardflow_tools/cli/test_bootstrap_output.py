"""Issue 15.2: bootstrap prints the names, ARNs and URLs it created and the export lines."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable

import pytest

from shardflow_tools.cli import main


def test_bootstrap_prints_arns_urls_and_export_lines(
    aws_endpoint: str, unique_name: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = unique_name("b").lower() + "-"
    assert main(["bootstrap", "--prefix", prefix, "--endpoint-url", aws_endpoint]) == 0
    out = capsys.readouterr().out
    exports = dict(
        shlex.split(line.removeprefix("export "))[0].split("=", 1)
        for line in out.splitlines()
        if line.startswith("export ")
    )
    assert exports["AWS_ENDPOINT_URL"] == aws_endpoint
    assert exports["SHARDFLOW_STREAM"] == f"{prefix}shardflow-events"
    assert exports["SHARDFLOW_BUCKET"] == f"{prefix}shardflow-output"
    assert exports["SHARDFLOW_DLQ_URL"].endswith(f"/{prefix}shardflow-dlq")
    assert exports["SHARDFLOW_KCL_APPLICATION"] == f"{prefix}shardflow-kcl"
    assert f"arn:aws:kinesis:{os.environ['AWS_REGION']}:" in out
    assert f"arn:aws:sqs:{os.environ['AWS_REGION']}:" in out
    assert f"stream/{prefix}shardflow-events" in out
    # The URL printed is the one the consumers use: the queue exists under it.
    assert f"{exports['SHARDFLOW_DLQ_URL']}" in out
