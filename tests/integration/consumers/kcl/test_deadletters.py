"""Issue 15.2: `consume kcl` falls back to the dead-letter queue bootstrap creates, by name,
as the Lambda consumer does (one bad event used to stop the worker)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from consumers.kcl.deadletters import report_dead_letters, with_dead_letter_queue
from consumers.kcl.launcher import LaunchConfig, daemon_env
from consumers.kcl.properties import DaemonProperties
from shardflow import resources


def _config(env: dict[str, str] | None = None) -> LaunchConfig:
    props = DaemonProperties(
        stream="s", application="app", executable="python -m consumers.kcl", region="us-east-1"
    )
    return LaunchConfig(properties=props, processor_env=env or {})


def test_the_default_queue_is_found_by_name_and_given_to_the_processors(
    aws_client: Callable[[str], Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("SHARDFLOW_DLQ_URL", raising=False)
    sqs = aws_client("sqs")
    url = sqs.create_queue(QueueName=resources.DEAD_LETTER_QUEUE)["QueueUrl"]
    config, found = with_dead_letter_queue(_config(), sqs)
    assert found == url
    assert daemon_env(config, base={})["SHARDFLOW_DLQ_URL"] == url
    assert f"dead letters go to {url}" in capsys.readouterr().err


def test_an_explicit_queue_wins(
    aws_client: Callable[[str], Any], capsys: pytest.CaptureFixture[str]
) -> None:
    config, found = with_dead_letter_queue(
        _config({"SHARDFLOW_DLQ_URL": "http://q/explicit"}), aws_client("sqs")
    )
    assert found == "http://q/explicit"
    assert config.processor_env["SHARDFLOW_DLQ_URL"] == "http://q/explicit"


class _NoQueues:
    def get_queue_url(self, **_: Any) -> Any:
        from botocore.exceptions import ClientError

        error = {"Error": {"Code": "AWS.SimpleQueueService.NonExistentQueue", "Message": "x"}}
        raise ClientError(error, "GetQueueUrl")  # type: ignore[arg-type]


def test_no_queue_at_all_is_a_warning_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SHARDFLOW_DLQ_URL", raising=False)
    config, found = with_dead_letter_queue(_config(), _NoQueues())
    assert found is None
    assert "SHARDFLOW_DLQ_URL" not in config.processor_env
    err = capsys.readouterr().err
    assert "warning: no dead-letter queue" in err
    assert "shardflow bootstrap" in err


def test_the_exit_summary_counts_dead_letters(
    aws_client: Callable[[str], Any],
    unique_name: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    sqs = aws_client("sqs")
    url = sqs.create_queue(QueueName=unique_name("dlq"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    report_dead_letters(sqs, url, before=1)
    err = capsys.readouterr().err
    assert f"1 dead-lettered this run (2 in {url})" in err
    assert "warning: 1 events were dead-lettered" in err
