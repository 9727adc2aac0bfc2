"""Creating what the handler needs on a local endpoint (Terraform creates it on AWS).

``shardflow consume lambda`` and ``shardflow demo`` call :func:`ensure_resources` when
``AWS_ENDPOINT_URL`` is a local emulator: the output bucket, the dead-letter queue, and the
idempotency and attempts tables with their TTL attributes, named as the handler's
configuration names them.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from botocore.exceptions import ClientError

from consumers.lambda_handler.config import HandlerConfig
from shardflow import aws, resources

logger = logging.getLogger(__name__)


def _table(ddb: Any, name: str, key: str, ttl: str) -> bool:
    try:
        ddb.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except ClientError as exc:
        if aws.error_code(exc) == "ResourceInUseException":
            return False
        raise
    ddb.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    ddb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl}
    )
    return True


def ensure_resources(
    *,
    config: HandlerConfig | None = None,
    s3_client: Any = None,
    sqs_client: Any = None,
    dynamodb_client: Any = None,
) -> HandlerConfig:
    """Create the handler's missing resources; return the configuration with the
    dead-letter queue's URL filled in (the queue is created when none was configured)."""
    config = config or HandlerConfig.from_env()
    s3 = s3_client or aws.client("s3")
    sqs = sqs_client or aws.client("sqs")
    ddb = dynamodb_client or aws.client("dynamodb")
    created: list[str] = []
    try:
        s3.create_bucket(Bucket=config.bucket)
        created.append(f"s3://{config.bucket}")
    except ClientError as exc:
        if aws.error_code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
            raise
    if config.dlq_url is None:
        url = sqs.create_queue(QueueName=resources.DEAD_LETTER_QUEUE)["QueueUrl"]
        config = dataclasses.replace(config, dlq_url=url)
        created.append(url)
    if config.idempotency_table and _table(
        ddb,
        config.idempotency_table,
        resources.IDEMPOTENCY_KEY_ATTR,
        resources.IDEMPOTENCY_TTL_ATTR,
    ):
        created.append(config.idempotency_table)
    if _table(ddb, config.attempts_table, resources.ATTEMPTS_KEY_ATTR, resources.ATTEMPTS_TTL_ATTR):
        created.append(config.attempts_table)
    for name in created:
        logger.info("created %s", name)
    return config
