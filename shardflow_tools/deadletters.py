"""Dead letters as data an operator acts on: read, decode, send back, purge.

The consumers' dead-letter queue holds one SQS message per poison record
(:mod:`consumers.deadletter`, schema ``shardflow.deadletter/1``): why it failed, where it
came from (stream, shard, sequence number, partition key) and its bytes, inline or in S3.

* :func:`peek` reads messages without consuming them: each is received, then made visible
  again at once, so a consumer of the queue (or the next ``peek``) still sees it;
* :func:`payload_of` returns a dead letter's original bytes, from the message or from S3;
* :func:`redrive` puts the bytes back into their stream with their partition key, then
  deletes the message. Put first, delete second: a crash between the two leaves the
  message, and a second redrive puts the record again; the envelope ``id`` (the consumers'
  idempotency key) is the same both times;
* :func:`purge` empties the queue.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from shardflow.errors import ShardflowError

if TYPE_CHECKING:
    from mypy_boto3_kinesis.client import KinesisClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        MessageTypeDef,
    )

logger = logging.getLogger(__name__)

#: ReceiveMessage returns at most 10 messages per call.
_RECEIVE_MAX: Final = 10
#: Seconds a peeked message stays hidden before it is made visible again (a safety net if
#: the reset fails).
_PEEK_VISIBILITY: Final = 30


class DeadLetterQueueError(ShardflowError):
    """The queue or a dead letter could not be read, redriven or purged."""


@dataclass(frozen=True)
class DeadLetter:
    """One message of the dead-letter queue, its body decoded."""

    message_id: str
    receipt_handle: str
    body: dict[str, Any]

    @property
    def reason(self) -> str:
        """Why the record was dead-lettered (``invalid_envelope``, ``handler_failed``, ...)."""
        return str(self.body.get("reason", "?"))

    @property
    def stream(self) -> str | None:
        """The stream the record came from."""
        value = self.body.get("stream")
        return str(value) if value else None

    @property
    def origin(self) -> str:
        """``stream/shard@sequence[:sub]``."""
        body = self.body
        sub = body.get("sub_sequence_number")
        position = f"{body.get('sequence_number', '?')}" + (f":{sub}" if sub else "")
        return f"{body.get('stream', '?')}/{body.get('shard_id', '?')}@{position}"


def _decode(message: MessageTypeDef) -> DeadLetter:
    try:
        body = orjson.loads(message["Body"])
    except orjson.JSONDecodeError:
        body = {"reason": "?", "error": "not a shardflow dead letter", "raw": message["Body"]}
    if not isinstance(body, dict):
        body = {"reason": "?", "error": "not a shardflow dead letter", "raw": message["Body"]}
    return DeadLetter(message["MessageId"], message["ReceiptHandle"], body)


def _receive(sqs: SQSClient, url: str, visibility: int) -> list[MessageTypeDef]:
    try:
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=_RECEIVE_MAX,
            VisibilityTimeout=visibility,
            WaitTimeSeconds=0,
        ).get("Messages", [])
    except (ClientError, BotoCoreError) as exc:
        raise DeadLetterQueueError(f"cannot read {url}: {exc}") from exc
    return messages


def release(sqs: SQSClient, url: str, letters: Iterable[DeadLetter]) -> None:
    """Make held dead letters visible again at once."""
    entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
        {"Id": str(i), "ReceiptHandle": letter.receipt_handle, "VisibilityTimeout": 0}
        for i, letter in enumerate(letters)
    ]
    for start in range(0, len(entries), _RECEIVE_MAX):
        try:
            sqs.change_message_visibility_batch(
                QueueUrl=url, Entries=entries[start : start + _RECEIVE_MAX]
            )
        except (ClientError, BotoCoreError) as exc:
            logger.warning(
                "cannot make peeked messages visible again (in %ss): %s", _PEEK_VISIBILITY, exc
            )


def hold(sqs: SQSClient, url: str, limit: int | None) -> list[DeadLetter]:
    """Receive up to ``limit`` distinct messages (all when None), hidden until
    :func:`release` (or a visibility timeout) makes them visible again."""
    held: dict[str, DeadLetter] = {}
    while limit is None or len(held) < limit:
        batch = _receive(sqs, url, _PEEK_VISIBILITY)
        if not batch:
            break
        for message in batch:
            held.setdefault(message["MessageId"], _decode(message))
    letters = list(held.values())
    return letters if limit is None else letters[:limit]


def peek(sqs: SQSClient, url: str, *, limit: int | None = None) -> list[DeadLetter]:
    """Up to ``limit`` dead letters (all when None), left in the queue."""
    letters = hold(sqs, url, limit)
    release(sqs, url, letters)
    return letters


def find(sqs: SQSClient, url: str, message_ids: Iterable[str]) -> tuple[list[DeadLetter], set[str]]:
    """The dead letters with these ids, hidden until released, and the ids not found."""
    wanted = set(message_ids)
    letters = hold(sqs, url, None)
    chosen = [letter for letter in letters if letter.message_id in wanted]
    release(sqs, url, [letter for letter in letters if letter.message_id not in wanted])
    return chosen, wanted - {letter.message_id for letter in chosen}


def payload_of(letter: DeadLetter, s3: S3Client | None = None) -> bytes:
    """The dead-lettered record's original bytes (inline, or from S3 for large ones)."""
    inline = letter.body.get("payload_base64")
    if isinstance(inline, str):
        return base64.b64decode(inline)
    location = letter.body.get("payload_s3")
    if isinstance(location, dict) and s3 is not None:
        try:
            data: bytes = s3.get_object(Bucket=location["bucket"], Key=location["key"])[
                "Body"
            ].read()
        except (ClientError, BotoCoreError) as exc:
            where = f"s3://{location['bucket']}/{location['key']}"
            raise DeadLetterQueueError(f"cannot read the payload at {where}: {exc}") from exc
        return data
    raise DeadLetterQueueError(f"dead letter {letter.message_id} carries no payload")


def decoded(letter: DeadLetter, s3: S3Client | None = None) -> dict[str, Any]:
    """The message body with the payload decoded: as JSON when it is JSON, else as text or
    base64 (``show`` prints this)."""
    out = {k: v for k, v in letter.body.items() if k != "payload_base64"}
    out["message_id"] = letter.message_id
    try:
        payload = payload_of(letter, s3)
    except DeadLetterQueueError as exc:
        out["payload_error"] = str(exc)
        return out
    try:
        out["payload"] = orjson.loads(payload)
    except orjson.JSONDecodeError:
        try:
            out["payload_text"] = payload.decode()
        except UnicodeDecodeError:
            out["payload_base64"] = base64.b64encode(payload).decode()
    return out


def redrive(
    sqs: SQSClient,
    kinesis: KinesisClient,
    url: str,
    letters: Iterable[DeadLetter],
    *,
    s3: S3Client | None = None,
) -> Iterator[tuple[DeadLetter, str]]:
    """Put each dead letter back into its stream, then delete it; yield it with the new
    sequence number."""
    for letter in letters:
        stream = letter.stream
        if stream is None:
            raise DeadLetterQueueError(f"dead letter {letter.message_id} names no stream")
        key = str(letter.body.get("partition_key") or letter.message_id)
        data = payload_of(letter, s3)
        try:
            put = kinesis.put_record(StreamName=stream, Data=data, PartitionKey=key)
        except (ClientError, BotoCoreError) as exc:
            raise DeadLetterQueueError(
                f"cannot put dead letter {letter.message_id} back into {stream}: {exc}"
            ) from exc
        try:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=letter.receipt_handle)
        except (ClientError, BotoCoreError) as exc:
            raise DeadLetterQueueError(
                f"dead letter {letter.message_id} was put back into {stream} but not deleted "
                f"from the queue ({exc}): delete it before redriving again"
            ) from exc
        yield letter, str(put["SequenceNumber"])


def purge(sqs: SQSClient, url: str) -> None:
    """Delete every message of the queue."""
    try:
        sqs.purge_queue(QueueUrl=url)
    except (ClientError, BotoCoreError) as exc:
        raise DeadLetterQueueError(f"cannot purge {url}: {exc}") from exc


__all__ = (
    "DeadLetter",
    "DeadLetterQueueError",
    "decoded",
    "find",
    "hold",
    "payload_of",
    "peek",
    "purge",
    "redrive",
    "release",
)
