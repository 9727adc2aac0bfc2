"""What the Lambda handler needs, as a bootstrap spec (Terraform creates it on AWS).

:func:`handler_spec` declares the output bucket, the dead-letter queue, the idempotency
table (when idempotency is on) and the attempts table, named as the handler's
configuration names them; :func:`ensure_resources` creates them through
:func:`shardflow_tools.bootstrap.bootstrap`, the one code that creates resources. Local
runs (``shardflow consume lambda``, ``shardflow demo``), the benchmarks and the tests call
it; the handler itself never creates anything. ``consumers.lambda_handler.resources`` is an
alias of this module.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from consumers.lambda_handler.config import HandlerConfig
from shardflow import resources
from shardflow_tools.bootstrap import (
    BootstrapSpec,
    BucketSpec,
    KeySpec,
    QueueSpec,
    TableSpec,
    attempts_table,
    bootstrap,
    idempotency_table,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sqs.client import SQSClient

__all__ = ["dead_letter_queue_name", "ensure_resources", "handler_spec"]


def dead_letter_queue_name(config: HandlerConfig) -> str:
    """The name of the handler's dead-letter queue: the last part of ``dlq_url``, else the
    queue the handler looks up when none is configured
    (:data:`shardflow.resources.DEAD_LETTER_QUEUE`)."""
    if config.dlq_url:
        return config.dlq_url.rstrip("/").rsplit("/", 1)[-1]
    return resources.DEAD_LETTER_QUEUE


def handler_spec(
    config: HandlerConfig, *, key: KeySpec | None = None, dead_letter_queue: str | None = None
) -> BootstrapSpec:
    """The resources the handler configured by ``config`` uses, encrypted with ``key``
    (None: the services' default encryption); the dead-letter queue is named
    ``dead_letter_queue`` when given (else see :func:`dead_letter_queue_name`)."""
    tables: list[TableSpec] = []
    if config.idempotency_table:
        tables.append(idempotency_table(config.idempotency_table))
    tables.append(attempts_table(config.attempts_table))
    return BootstrapSpec(
        key=key,
        tables=tuple(tables),
        buckets=(BucketSpec(config.bucket),),
        queues=(QueueSpec(dead_letter_queue or dead_letter_queue_name(config)),),
    )


def ensure_resources(
    *,
    config: HandlerConfig | None = None,
    s3_client: S3Client | None = None,
    sqs_client: SQSClient | None = None,
    dynamodb_client: DynamoDBClient | None = None,
    endpoint_url: str | None = None,
    key: KeySpec | None = None,
    dead_letter_queue: str | None = None,
) -> HandlerConfig:
    """Create the handler's missing resources (:func:`handler_spec`); return the
    configuration with the dead-letter queue's URL filled in when none was configured or
    when ``dead_letter_queue`` names the queue to use.

    Clients not given are built for ``endpoint_url`` (else ``AWS_ENDPOINT_URL``). Raises
    :class:`shardflow_tools.bootstrap.BootstrapError` naming the resource on failure.
    """
    config = config or HandlerConfig.from_env()
    given = {"s3": s3_client, "sqs": sqs_client, "dynamodb": dynamodb_client}
    report = bootstrap(
        handler_spec(config, key=key, dead_letter_queue=dead_letter_queue),
        endpoint_url=endpoint_url,
        clients={service: client for service, client in given.items() if client is not None},
    )
    if dead_letter_queue or config.dlq_url is None:
        queue = dead_letter_queue or dead_letter_queue_name(config)
        config = dataclasses.replace(config, dlq_url=report.queue_urls[queue])
    return config
