"""What ``shardflow bootstrap`` prints after the outcomes: names, ARNs, URLs, ``export`` lines.

Read back from the endpoint (not from the creation code), so the lines say what is there:
a second run, which changes nothing, prints the same identifiers. The ``export`` lines set
the variables every command and consumer reads, so a prefixed stack is one ``eval`` away::

    eval "$(shardflow bootstrap --prefix dev- | grep ^export)"
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shardflow import resources, settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_kinesis.client import KinesisClient
    from mypy_boto3_sqs.client import SQSClient


@dataclass(frozen=True)
class Resource:
    """One resource the consumers use: its kind, name, ARN, URL (queues) and variable."""

    kind: str
    name: str
    arn: str
    url: str = ""
    variable: str = ""
    value: str = ""


def _stream(kinesis: KinesisClient, name: str) -> Resource:
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    return Resource("stream", name, arn, variable=settings.STREAM, value=name)


def _table(dynamodb: DynamoDBClient, name: str, variable: str) -> Resource:
    arn = dynamodb.describe_table(TableName=name)["Table"]["TableArn"]
    return Resource("table", name, arn, variable=variable, value=name)


def _queue(sqs: SQSClient, name: str, variable: str) -> Resource:
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return Resource("queue", name, arn, url=url, variable=variable, value=url)


def read_back(client: Callable[[str], Any], prefix: str = "") -> list[Resource]:
    """The resources of a bootstrapped stack with ``prefix``, as the endpoint reports them."""
    kinesis, dynamodb, sqs = client("kinesis"), client("dynamodb"), client("sqs")
    bucket = prefix + resources.BUCKET
    return [
        _stream(kinesis, prefix + resources.STREAM),
        Resource(
            "bucket", bucket, f"arn:aws:s3:::{bucket}", variable=settings.BUCKET, value=bucket
        ),
        _queue(sqs, prefix + resources.DEAD_LETTER_QUEUE, settings.DLQ_URL),
        _queue(sqs, prefix + resources.ON_FAILURE_QUEUE, settings.ON_FAILURE_QUEUE_URL),
        _table(dynamodb, prefix + resources.IDEMPOTENCY_TABLE, settings.IDEMPOTENCY_TABLE),
        _table(dynamodb, prefix + resources.ATTEMPTS_TABLE, settings.ATTEMPTS_TABLE),
        _table(dynamodb, prefix + resources.CHECKPOINT_TABLE, settings.CHECKPOINT_TABLE),
        _table(dynamodb, prefix + resources.KCL_APPLICATION, settings.KCL_APPLICATION),
    ]


def render(found: list[Resource], *, endpoint_url: str | None, region: str) -> str:
    """The table of resources, then the ``export`` lines (endpoint and region first)."""
    width = max(len(r.name) for r in found)
    lines = [""]
    for r in found:
        lines.append(f"{r.kind:<7} {r.name:<{width}}  {r.arn}" + (f"  {r.url}" if r.url else ""))
    lines.append("")
    if endpoint_url:
        lines.append(f"export {settings.ENDPOINT_URL}={shlex.quote(endpoint_url)}")
    lines.append(f"export {settings.REGION}={shlex.quote(region)}")
    lines.extend(f"export {r.variable}={shlex.quote(r.value)}" for r in found if r.variable)
    return "\n".join(lines)


__all__ = ("Resource", "read_back", "render")
