"""OnFailure destinations named as AWS and Terraform name them: by ARN.

An event source mapping's ``DestinationConfig.OnFailure.Destination`` is an ARN (SQS queue,
SNS topic, S3 bucket). The local runner sends to SQS queues: an SQS ARN is turned into the
queue's URL (``GetQueueUrl`` with the ARN's account); a URL is taken as it is. SNS and S3
destinations are refused with the reason, rather than failing at the first discard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from shardflow import aws
from shardflow.errors import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

_MISSING = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


def _parts(arn: str, field: str) -> tuple[str, str, str, str]:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[5]:
        raise ConfigError(field, f"not an ARN: {arn!r}")
    _, _, service, region, account, resource = parts
    return service, region, account, resource


def queue_url_of(destination: str, sqs: SQSClient, *, field: str, create: bool = False) -> str:
    """The SQS queue URL of ``destination`` (an SQS ARN or a queue URL).

    ``create`` creates a queue the ARN names when it is missing (local endpoints, as
    ``--create-resources`` does for the other resources).
    """
    if not destination.startswith("arn:"):
        return destination
    service, _region, account, name = _parts(destination, field)
    if service != "sqs":
        raise ConfigError(
            field,
            f"{service} destinations are not supported by the local runner (only SQS queue "
            f"ARNs or URLs), got {destination!r}",
        )
    try:
        url: str = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
    except ClientError as exc:
        if aws.error_code(exc) not in _MISSING:
            raise
        if not create:
            raise ConfigError(
                field,
                f"no SQS queue {name} in account {account} (create it with `shardflow "
                "bootstrap`, or name an existing one)",
            ) from exc
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url


__all__ = ("queue_url_of",)
