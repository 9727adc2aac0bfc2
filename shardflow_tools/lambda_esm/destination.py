"""The OnFailure destination: the invocation record Lambda sends for a discarded batch.

The record holds metadata, not the records themselves (as on AWS): the shard, the sequence
range and arrival times of the discarded batch, why it was discarded and how often it was
invoked. Payloads of poison records are the handler's business (its dead-letter queue).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from shardflow import aws
from shardflow_tools.lambda_esm.errors import MappingError
from shardflow_tools.lambda_esm.events import StreamRecord

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

logger = logging.getLogger(__name__)

VERSION: Final = "1.0"


def _iso(seconds: float) -> str:
    stamp = datetime.fromtimestamp(seconds, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def invocation_record(
    batch: Sequence[StreamRecord],
    *,
    condition: str,
    function_arn: str,
    stream_arn: str,
    invocations: int,
    function_error: bool,
    now: float,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The JSON document Lambda sends to the OnFailure destination for ``batch``."""
    if not batch:
        raise ValueError("an invocation record needs at least one record")
    response: dict[str, Any] = {"statusCode": 200 if invocations else 0}
    response["executedVersion"] = "$LATEST"
    if function_error:
        response["functionError"] = "Unhandled"
    return {
        "requestContext": {
            "requestId": request_id or str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invocations,
        },
        "responseContext": response,
        "version": VERSION,
        "timestamp": _iso(now),
        "KinesisBatchInfo": {
            "shardId": batch[0].shard_id,
            "startSequenceNumber": batch[0].sequence_number,
            "endSequenceNumber": batch[-1].sequence_number,
            "approximateArrivalOfFirstRecord": _iso(batch[0].arrival),
            "approximateArrivalOfLastRecord": _iso(batch[-1].arrival),
            "batchSize": len(batch),
            "streamArn": stream_arn,
        },
    }


class OnFailureDestination:
    """Sends invocation records to an SQS queue."""

    def __init__(self, queue_url: str, *, sqs_client: SQSClient) -> None:
        self._queue_url = queue_url
        self._sqs = sqs_client

    @property
    def queue_url(self) -> str:
        """The queue's URL."""
        return self._queue_url

    def send(self, record: dict[str, Any]) -> None:
        """Send one invocation record; raises :class:`MappingError` if SQS refuses it."""
        info = record["KinesisBatchInfo"]
        try:
            self._sqs.send_message(
                QueueUrl=self._queue_url, MessageBody=orjson.dumps(record).decode()
            )
        except (ClientError, BotoCoreError) as exc:
            raise MappingError(
                f"cannot send the OnFailure record of {info['startSequenceNumber']}-"
                f"{info['endSequenceNumber']} to {self._queue_url}: {exc}",
                shard_id=info["shardId"],
                error_code=aws.error_code(exc),
            ) from exc
        logger.warning(
            "discarded %d records of %s (%s-%s): %s; invocation record sent to %s",
            info["batchSize"],
            info["shardId"],
            info["startSequenceNumber"],
            info["endSequenceNumber"],
            record["requestContext"]["condition"],
            self._queue_url,
        )
