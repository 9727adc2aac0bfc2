"""How often an event has failed: one DynamoDB counter per event position.

An event that keeps failing would block its shard forever (Lambda retries a Kinesis batch
from the first failed record). The handler counts failures per event in the attempts table
(key :data:`shardflow.resources.ATTEMPTS_KEY_ATTR`, TTL attribute
:data:`shardflow.resources.ATTEMPTS_TTL_ATTR`) and dead-letters the event once the count
reaches the limit. The count survives the invocation (and the execution environment), which
an in-memory count would not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from botocore.exceptions import BotoCoreError, ClientError

from consumers.lambda_handler.errors import AttemptStoreError
from consumers.records import Origin
from shardflow import aws, resources

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

_KEY: Final = resources.ATTEMPTS_KEY_ATTR
_TTL: Final = resources.ATTEMPTS_TTL_ATTR


def attempt_key(consumer: str, origin: Origin) -> str:
    """The counter's key: consumer, stream, shard and position (``SEQ`` or ``SEQ.SUB``)."""
    return f"{consumer}#{origin.stream}#{origin.shard_id}#{origin.position}"


@dataclass(frozen=True, slots=True)
class Attempts:
    """An event's failures so far, and whether it was already dead-lettered."""

    failures: int
    dead_lettered: bool = False


class AttemptStore:
    """Counts failures per event position in a DynamoDB table (atomic ADD)."""

    def __init__(
        self, table: str, *, dynamodb_client: DynamoDBClient, consumer: str, ttl_seconds: int
    ) -> None:
        self.table = table
        self._ddb = dynamodb_client
        self._consumer = consumer
        self._ttl = ttl_seconds

    def _error(self, what: str, origin: Origin, exc: Exception) -> AttemptStoreError:
        return AttemptStoreError(
            f"cannot {what} in {self.table}: {exc}",
            stream=origin.stream,
            shard_id=origin.shard_id,
            sequence_number=origin.sequence_number,
            error_code=aws.error_code(exc),
        )

    def record_failure(self, origin: Origin) -> Attempts:
        """Count one more failure of the event at ``origin``; return the state so far."""
        try:
            resp = self._ddb.update_item(
                TableName=self.table,
                Key={_KEY: {"S": attempt_key(self._consumer, origin)}},
                UpdateExpression="ADD #n :one SET #ttl = :ttl",
                ExpressionAttributeNames={"#n": "attempts", "#ttl": _TTL},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":ttl": {"N": str(int(time.time()) + self._ttl)},
                },
                ReturnValues="ALL_NEW",
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error("count the failure", origin, exc) from exc
        item = resp["Attributes"]
        return Attempts(
            int(item["attempts"]["N"]), bool(item.get("dead_lettered", {}).get("BOOL", False))
        )

    def mark_dead_lettered(self, origin: Origin) -> None:
        """Remember that the event went to the dead-letter queue (so a retry of its record,
        failed by a later event, does not send it again)."""
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key={_KEY: {"S": attempt_key(self._consumer, origin)}},
                UpdateExpression="SET #d = :true",
                ExpressionAttributeNames={"#d": "dead_lettered"},
                ExpressionAttributeValues={":true": {"BOOL": True}},
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error("mark the event dead-lettered", origin, exc) from exc

    def failures(self, origin: Origin) -> int:
        """Failures counted so far for the event at ``origin`` (0 when none)."""
        try:
            resp = self._ddb.get_item(
                TableName=self.table,
                Key={_KEY: {"S": attempt_key(self._consumer, origin)}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error("read", origin, exc) from exc
        item = resp.get("Item")
        return int(item["attempts"]["N"]) if item else 0
