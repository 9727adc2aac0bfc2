"""Issue 15.7: the OnFailure destination by ARN, as AWS and Terraform name it (it used to
warn, then stop the shard at the first discard with NonExistentQueue)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shardflow.errors import ConfigError
from shardflow_tools.cli import build_parser
from shardflow_tools.lambda_esm.cli_config import mapping_from_args
from shardflow_tools.lambda_esm.destination_arn import queue_url_of


def _arn(sqs: Any, url: str) -> str:
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return arn


def test_an_sqs_arn_becomes_the_queue_url(
    aws_client: Callable[[str], Any], unique_name: Callable[[str], str]
) -> None:
    sqs = aws_client("sqs")
    url = sqs.create_queue(QueueName=unique_name("failures"))["QueueUrl"]
    args = build_parser().parse_args(
        ["consume", "lambda", "--on-failure-destination", _arn(sqs, url)]
    )
    config, _ = mapping_from_args(args)
    assert config.on_failure_queue_url == url
    # The old flag takes an ARN too.
    old = build_parser().parse_args(["consume", "lambda", "--on-failure-queue-url", _arn(sqs, url)])
    assert mapping_from_args(old)[0].on_failure_queue_url == url


def test_a_missing_queue_is_named_or_created(
    aws_client: Callable[[str], Any], unique_name: Callable[[str], str]
) -> None:
    sqs = aws_client("sqs")
    name = unique_name("absent")
    arn = f"arn:aws:sqs:us-east-1:123456789012:{name}"
    with pytest.raises(ConfigError, match=rf"^--on-failure-destination: no SQS queue {name}"):
        queue_url_of(arn, sqs, field="--on-failure-destination")
    url = queue_url_of(arn, sqs, field="--on-failure-destination", create=True)
    assert url == sqs.get_queue_url(QueueName=name)["QueueUrl"]
