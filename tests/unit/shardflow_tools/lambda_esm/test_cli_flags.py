"""Issue 15.8: `consume lambda` speaks the event source mapping's names, today's flags stay
as aliases, and errors name the flag (or the variable) that gave the value."""

from __future__ import annotations

import argparse

import pytest

from shardflow.errors import ConfigError
from shardflow_tools.cli import build_parser
from shardflow_tools.lambda_esm.cli_config import mapping_from_args


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["consume", "lambda", *argv])


@pytest.mark.parametrize(
    ("new", "old"),
    [
        (["--maximum-batching-window-in-seconds", "5"], ["--batching-window", "5"]),
        (["--maximum-record-age-in-seconds", "120"], ["--maximum-record-age", "120"]),
        (["--function-response-types", "none"], ["--no-report-batch-item-failures"]),
        (["--on-failure-destination", "http://q/1"], ["--on-failure-queue-url", "http://q/1"]),
    ],
)
def test_the_mapping_names_and_the_old_flags_mean_the_same(new: list[str], old: list[str]) -> None:
    assert mapping_from_args(_args(*new)) == mapping_from_args(_args(*old))


def test_function_response_types_turns_partial_responses_on_and_off() -> None:
    on, _ = mapping_from_args(_args("--function-response-types", "ReportBatchItemFailures"))
    off, _ = mapping_from_args(_args("--function-response-types", "none"))
    assert on.report_batch_item_failures
    assert not off.report_batch_item_failures


def test_an_error_names_the_flag_that_gave_the_value() -> None:
    with pytest.raises(ConfigError, match=r"^--batch-size: must be 1-10000, got 0$"):
        mapping_from_args(_args("--batch-size", "0"))
    with pytest.raises(ConfigError, match=r"^--maximum-record-age-in-seconds: "):
        mapping_from_args(_args("--maximum-record-age", "5"))


def test_an_error_names_the_variable_when_the_variable_gave_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHARDFLOW_BATCH_SIZE", "0")
    with pytest.raises(ConfigError, match=r"^SHARDFLOW_BATCH_SIZE: must be 1-10000, got 0$"):
        mapping_from_args(_args())


def test_non_sqs_destinations_are_refused_naming_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"^--on-failure-destination: sns destinations"):
        mapping_from_args(_args("--on-failure-destination", "arn:aws:sns:us-east-1:1:t"))


def test_every_output_command_takes_the_same_options() -> None:
    shared = ["--bucket", "b", "--prefix", "p", "--format", "jsonl", "--dlq-url", "http://q"]
    shared += ["--endpoint-url", "http://127.0.0.1:9", "--region", "eu-west-1"]
    parser = build_parser()
    for command in (["consume", "lambda"], ["consume", "kcl"]):
        args = parser.parse_args([*command, *shared])
        assert (args.bucket, args.prefix, args.format, args.dlq_url) == (
            "b",
            "p",
            "jsonl",
            "http://q",
        )
        assert (args.endpoint_url, args.region) == ("http://127.0.0.1:9", "eu-west-1")
    query = parser.parse_args(["query", "SELECT 1", *shared[:6], *shared[8:]])
    assert (query.bucket, query.prefix, query.format, query.region) == (
        "b",
        "p",
        "jsonl",
        "eu-west-1",
    )
    dlq = parser.parse_args(["dlq", "count", *shared[6:]])
    assert (dlq.dlq_url, dlq.endpoint_url, dlq.region) == (
        "http://q",
        "http://127.0.0.1:9",
        "eu-west-1",
    )


def test_stream_help_names_the_default_it_uses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["consume", "lambda", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert (
        "--stream STREAM stream name (default: SHARDFLOW_STREAM, else shardflow-events)"
        in help_text
    )
