"""Finding the dead-letter queue by its default name, and counting what it holds.

Both consumers use the queue ``shardflow bootstrap`` (and Terraform) create,
:data:`shardflow.resources.DEAD_LETTER_QUEUE`, when ``SHARDFLOW_DLQ_URL`` names none; their
command-line summaries count what a run added to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from shardflow import aws, resources

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

_MISSING = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


def queue_url_by_name(sqs: SQSClient, name: str = resources.DEAD_LETTER_QUEUE) -> str | None:
    """The URL of queue ``name``, or None when there is no such queue."""
    try:
        url: str = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        if aws.error_code(exc) in _MISSING:
            return None
        raise
    return url


def queue_depth(sqs: SQSClient, url: str) -> int | None:
    """Messages in the queue (visible and in flight), or None when it cannot be read."""
    try:
        attrs = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
    except (ClientError, BotoCoreError):
        return None
    return int(attrs.get("ApproximateNumberOfMessages", 0)) + int(
        attrs.get("ApproximateNumberOfMessagesNotVisible", 0)
    )


__all__ = ("queue_depth", "queue_url_by_name")
