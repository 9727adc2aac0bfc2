"""Issue 15.5 and 15.11: expected failures are one line and an exit code; the target is said."""

from __future__ import annotations

import io
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from shardflow.errors import ConfigError, ShardflowError
from shardflow_tools.cli import main
from shardflow_tools.cli._failures import expected_failure
from shardflow_tools.lambda_esm import local as esm_local


def test_an_unknown_log_level_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--log-level", "foo", "local"])
    assert info.value.code == 2
    assert "argument --log-level: unknown level 'foo'" in capsys.readouterr().err


def test_a_malformed_variable_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHARDFLOW_PRODUCER_MAX_BUFFER_TIME", "abc")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b'{"type": "t"}\n')))
    assert main(["produce", "--stream", "s", "--endpoint-url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "shardflow produce: SHARDFLOW_PRODUCER_MAX_BUFFER_TIME: cannot parse 'abc': could "
        "not convert string to float: 'abc'"
    )


def _stop_before_aws(**_: Any) -> None:
    raise ConfigError("test", "stopped before any AWS call")


def test_consume_lambda_says_it_goes_to_aws_itself(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setattr(esm_local, "prepare_local_run", _stop_before_aws)
    assert main(["consume", "lambda", "--stream", "s"]) == 2
    err = capsys.readouterr().err
    assert (
        "shardflow consume lambda: endpoint AWS itself (AWS_ENDPOINT_URL is not set), "
        "region eu-west-1"
    ) in err


def test_debug_shows_the_traceback_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(esm_local, "prepare_local_run", _stop_before_aws)
    assert main(["--debug", "consume", "lambda", "--stream", "s"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith("shardflow consume lambda: test: stopped")


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "nope"}}, "DescribeStream")


def test_a_missing_resource_says_to_bootstrap() -> None:
    failure = expected_failure(_client_error("ResourceNotFoundException"))
    assert failure is not None
    assert failure.code == 1
    assert failure.message.startswith("DescribeStream failed: ResourceNotFoundException: nope")
    assert "shardflow bootstrap" in failure.message


def test_an_unreachable_endpoint_is_found_under_a_wrapping_error() -> None:
    try:
        try:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9/?x=1")
        except EndpointConnectionError as exc:
            raise ShardflowError("bootstrap failed") from exc
    except ShardflowError as wrapped:
        failure = expected_failure(wrapped)
    assert failure is not None
    assert failure.code == 1
    assert failure.message.startswith("cannot reach http://127.0.0.1:9: start the emulator")


def test_bugs_keep_their_traceback() -> None:
    assert expected_failure(KeyError("x")) is None
