"""Issue 15.10 and 15.8: `consume kcl --help` without doubled defaults; the shared output
options reach the processors."""

from __future__ import annotations

import pytest

from consumers.kcl.cli import build_config
from shardflow_tools.cli import build_parser


def test_help_names_each_default_once(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["consume", "kcl", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in help_text
    assert ") (default:" not in help_text
    assert "--region REGION AWS region (default: AWS_REGION, else us-east-1)" in help_text


def test_the_output_options_become_the_processors_variables() -> None:
    output = ["--bucket", "b", "--prefix", "p", "--format", "jsonl", "--dlq-url", "http://q"]
    args = build_parser().parse_args(
        ["consume", "kcl", *output, "--endpoint-url", "http://127.0.0.1:9"]
    )
    env = build_config(args).processor_env
    assert env["SHARDFLOW_BUCKET"] == "b"
    assert env["SHARDFLOW_OUTPUT_PREFIX"] == "p"
    assert env["SHARDFLOW_OUTPUT_FORMAT"] == "jsonl"
    assert env["SHARDFLOW_DLQ_URL"] == "http://q"
