"""The runner's checkpoints: one DynamoDB item per (consumer, shard), written conditionally.

Lambda keeps an event source mapping's position itself; locally the runner keeps it in the
table named by ``SHARDFLOW_CHECKPOINT_TABLE`` (key ``consumer`` + ``shard_id``, see
:mod:`shardflow.resources`). Every write is conditional on the version read before, so two
runners of the same consumer cannot move one shard's checkpoint past each other, and a
checkpoint never goes back.

An item::

    consumer=shardflow-consumer  shard_id=shardId-000000000001  version=42
    sequence_number=4960…   (every record up to it is done; resume after it)
    lanes={"3": "4960…"}    (with ParallelizationFactor > 1: lanes that were ahead)
    parallelization_factor=4  shard_end=false  owner=<runner id>  updated_at=2026-…Z
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from shardflow import aws, resources
from shardflow_tools.bootstrap import BootstrapError, BootstrapSpec, bootstrap, checkpoint_table
from shardflow_tools.lambda_esm.errors import CheckpointConflictError, CheckpointError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

logger = logging.getLogger(__name__)

_HASH = resources.CHECKPOINT_HASH_KEY
_RANGE = resources.CHECKPOINT_RANGE_KEY


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A shard's stored position; ``version`` 0 means no item yet."""

    shard_id: str
    sequence_number: str | None = None
    shard_end: bool = False
    lane_marks: dict[int, str] = field(default_factory=dict)
    parallelization_factor: int = 1
    version: int = 0

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Checkpoint:
        """Parse a low-level DynamoDB item."""
        lanes = item.get("lanes", {}).get("M", {})
        return cls(
            shard_id=item[_RANGE]["S"],
            sequence_number=item.get("sequence_number", {}).get("S"),
            shard_end=bool(item.get("shard_end", {}).get("BOOL", False)),
            lane_marks={int(k): v["S"] for k, v in lanes.items()},
            parallelization_factor=int(item.get("parallelization_factor", {}).get("N", "1")),
            version=int(item["version"]["N"]),
        )


class CheckpointStore:
    """Reads and conditionally writes one consumer's shard checkpoints."""

    def __init__(
        self, table: str, *, consumer: str, dynamodb_client: DynamoDBClient, owner: str
    ) -> None:
        self._table = table
        self._consumer = consumer
        self._ddb = dynamodb_client
        self._owner = owner

    @property
    def table(self) -> str:
        """The table's name."""
        return self._table

    def _error(self, exc: Exception, shard_id: str | None, action: str) -> CheckpointError:
        return CheckpointError(
            f"cannot {action} checkpoint in {self._table}: {exc}",
            shard_id=shard_id,
            error_code=aws.error_code(exc),
        )

    def get(self, shard_id: str) -> Checkpoint:
        """The shard's checkpoint (an empty one when none was written)."""
        try:
            resp = self._ddb.get_item(
                TableName=self._table,
                Key={_HASH: {"S": self._consumer}, _RANGE: {"S": shard_id}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, shard_id, "read") from exc
        item = resp.get("Item")
        return Checkpoint.from_item(item) if item else Checkpoint(shard_id)

    def all(self) -> dict[str, Checkpoint]:
        """Every shard checkpoint of this consumer, by shard id."""
        out: dict[str, Checkpoint] = {}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#c = :c",
            "ExpressionAttributeNames": {"#c": _HASH},
            "ExpressionAttributeValues": {":c": {"S": self._consumer}},
            "ConsistentRead": True,
        }
        try:
            while True:
                resp = self._ddb.query(**kwargs)
                for item in resp.get("Items", []):
                    cp = Checkpoint.from_item(item)
                    out[cp.shard_id] = cp
                if "LastEvaluatedKey" not in resp:
                    return out
                kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, None, "list") from exc

    def save(
        self,
        previous: Checkpoint,
        *,
        sequence_number: str | None,
        lane_marks: Mapping[int, str],
        parallelization_factor: int,
        shard_end: bool = False,
    ) -> Checkpoint:
        """Write the shard's new position if nobody wrote since ``previous`` was read."""
        new = Checkpoint(
            shard_id=previous.shard_id,
            sequence_number=sequence_number,
            shard_end=shard_end,
            lane_marks=dict(lane_marks),
            parallelization_factor=parallelization_factor,
            version=previous.version + 1,
        )
        item: dict[str, Any] = {
            _HASH: {"S": self._consumer},
            _RANGE: {"S": previous.shard_id},
            "version": {"N": str(new.version)},
            "shard_end": {"BOOL": shard_end},
            "lanes": {"M": {str(k): {"S": v} for k, v in new.lane_marks.items()}},
            "parallelization_factor": {"N": str(parallelization_factor)},
            "owner": {"S": self._owner},
            "updated_at": {"S": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        }
        if sequence_number is not None:
            item["sequence_number"] = {"S": sequence_number}
        if previous.version == 0:
            condition = "attribute_not_exists(#c)"
            values: dict[str, Any] = {}
        else:
            condition = "#v = :v"
            values = {":v": {"N": str(previous.version)}}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Item": item,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#c": _HASH}
            if previous.version == 0
            else {"#v": "version"},
        }
        if values:
            kwargs["ExpressionAttributeValues"] = values
        try:
            self._ddb.put_item(**kwargs)
        except ClientError as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                raise CheckpointConflictError(
                    f"checkpoint in {self._table} changed since version {previous.version} "
                    "(another runner of this consumer owns the shard)",
                    shard_id=previous.shard_id,
                    error_code="ConditionalCheckFailedException",
                ) from exc
            raise self._error(exc, previous.shard_id, "write") from exc
        except BotoCoreError as exc:
            raise self._error(exc, previous.shard_id, "write") from exc
        return new


def ensure_table(
    dynamodb_client: DynamoDBClient, table: str, *, wait_seconds: float = 30.0
) -> bool:
    """Create the checkpoint table if missing, as bootstrap's spec declares it
    (:func:`shardflow_tools.bootstrap.checkpoint_table`); True when it was created."""
    spec = BootstrapSpec(key=None, tables=(checkpoint_table(table),))
    try:
        report = bootstrap(spec, clients={"dynamodb": dynamodb_client}, wait_timeout=wait_seconds)
    except BootstrapError as exc:
        raise CheckpointError(
            f"cannot create checkpoint table {table}: {exc}", error_code=exc.error_code
        ) from exc
    return bool(report.by_outcome("created"))
