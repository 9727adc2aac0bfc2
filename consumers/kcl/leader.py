"""Releasing KCL 3's leader lock when a worker's daemon has exited.

KCL 3 elects one worker of an application to assign leases: it holds the ``Leader`` item of
the ``<app>-CoordinatorState`` table (a DynamoDB lock-client lock whose ``ownerName`` is
the worker id, leased for 2 minutes). A daemon that exits without releasing it (its
processor stopped on an error, the JVM died) leaves the lock to expire: a worker started
again under the same application holds no lease for that long. The launcher knows when its
daemon is gone, so it deletes the lock if, and only if, that worker still owns it (a
conditional delete: a lock another worker took meanwhile is left alone).
"""

from __future__ import annotations

import logging
import socket
import uuid
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from shardflow import aws, resources

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

logger = logging.getLogger(__name__)

#: The coordinator-state item KCL 3's leader election locks.
LEADER_KEY = "Leader"


def new_worker_id() -> str:
    """A worker id as the KCL makes one (host and a random UUID), known to the launcher."""
    return f"{socket.gethostname()}-{uuid.uuid4()}"


def release_leader_lock(
    application: str,
    worker_id: str,
    *,
    dynamodb: DynamoDBClient | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> bool:
    """Delete the application's ``Leader`` lock if ``worker_id`` holds it; True if deleted.

    Never raises: a lock that cannot be released only makes the next start slower.
    """
    client = dynamodb or aws.client("dynamodb", endpoint_url=endpoint_url, region=region)
    table = application + resources.KCL_COORDINATOR_STATE_SUFFIX
    try:
        client.delete_item(
            TableName=table,
            Key={resources.KCL_COORDINATOR_STATE_KEY_ATTR: {"S": LEADER_KEY}},
            ConditionExpression="ownerName = :me",
            ExpressionAttributeValues={":me": {"S": worker_id}},
        )
    except ClientError as exc:
        code = aws.error_code(exc)
        if code in ("ConditionalCheckFailedException", "ResourceNotFoundException"):
            logger.debug("leader lock of %s not held by %s (%s)", application, worker_id, code)
        else:
            logger.warning("could not release the leader lock of %s: %s", application, exc)
        return False
    except BotoCoreError as exc:
        logger.warning("could not release the leader lock of %s: %s", application, exc)
        return False
    logger.info("released the leader lock of %s held by this worker (%s)", application, worker_id)
    return True


__all__ = ("LEADER_KEY", "new_worker_id", "release_leader_lock")
