"""Dead letters: poison records to SQS with their payload, oversize payloads to S3.

Lambda's own on-failure destination carries only metadata (shard, sequence range); a record
that went there is gone from the stream once it expires. Ours carries the bytes: an
operator can read the message, fix the producer or the handler, and replay the payload.

Message body (JSON, ``"schema": "shardflow.deadletter/1"``)::

    {"schema": "shardflow.deadletter/1", "reason": "invalid_envelope", "error": "...",
     "stream": "...", "shard_id": "...", "sequence_number": "...", "sub_sequence_number": 3,
     "partition_key": "...", "arrival_time": "2026-11-26T14:26:41.123Z",
     "payload_size": 123, "payload_sha256": "...",
     "payload_base64": "..."}                      # or, when too large for SQS:
     "payload_s3": {"bucket": "...", "key": "errors/STREAM/SHARD/POSITION.bin"}

A ``schema_mismatch`` message also has ``"field"``: the path of the field of ``data`` that
did not fit the declared schema (``"data.items[2].sku"``).

The message also carries the attributes ``reason``, ``stream`` and ``shard_id`` (for
subscription filters and consoles). The S3 key is a pure function of the origin, so a record
dead-lettered again after a replay overwrites its own object. SQS delivery is at least once:
after a crash before checkpoint, the same poison record can arrive twice (a FIFO queue
de-duplicates it within its 5-minute window by a deduplication id derived from the origin).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from consumers.errors import DeadLetterError
from consumers.records import Origin, PoisonRecord
from shardflow import aws, envelope, resources

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

logger = logging.getLogger(__name__)

SCHEMA: Final = "shardflow.deadletter/1"
#: SQS' classic maximum message size (body plus attributes). Queues created since 2025 may
#: allow 1 MiB; pass ``max_message_bytes`` to use it.
DEFAULT_MAX_MESSAGE_BYTES: Final = 256 * 1024
#: SendMessageBatch takes at most this many entries.
_BATCH_ENTRIES: Final = 10
_BATCH_ATTEMPTS: Final = 3


@dataclass(frozen=True, slots=True)
class DeadLetterReceipt:
    """Where a poison record went: the SQS message id, and the S3 key of its payload when
    the payload was too large to travel in the message."""

    message_id: str
    payload_key: str | None = None


def payload_key(errors_prefix: str, origin: Origin) -> str:
    """The S3 key of an oversize payload: ``PREFIX/STREAM/SHARD/POSITION.bin``."""
    prefix = errors_prefix.strip("/")
    name = f"{origin.stream}/{origin.shard_id}/{origin.position}.bin"
    return f"{prefix}/{name}" if prefix else name


def message_body(poison: PoisonRecord, *, payload_location: tuple[str, str] | None = None) -> bytes:
    """The JSON body for ``poison``; with ``payload_location=(bucket, key)`` the payload is
    referenced instead of inlined."""
    origin = poison.origin
    body: dict[str, Any] = {
        "schema": SCHEMA,
        "reason": poison.reason,
        "error": poison.error,
        "stream": origin.stream,
        "shard_id": origin.shard_id,
        "sequence_number": origin.sequence_number,
        "sub_sequence_number": origin.sub_sequence_number,
        "partition_key": origin.partition_key,
        "arrival_time": envelope.format_time(int(origin.arrival_time.timestamp() * 1000)),
        "payload_size": len(poison.payload),
        "payload_sha256": hashlib.sha256(poison.payload).hexdigest(),
    }
    if poison.field is not None:
        body["field"] = poison.field
    if payload_location is None:
        body["payload_base64"] = base64.b64encode(poison.payload).decode()
    else:
        body["payload_s3"] = {"bucket": payload_location[0], "key": payload_location[1]}
    return orjson.dumps(body)


def _attributes(poison: PoisonRecord) -> dict[str, dict[str, str]]:
    origin = poison.origin
    return {
        "reason": {"DataType": "String", "StringValue": poison.reason},
        "stream": {"DataType": "String", "StringValue": origin.stream},
        "shard_id": {"DataType": "String", "StringValue": origin.shard_id},
    }


def _attributes_size(attrs: dict[str, dict[str, str]]) -> int:
    # SQS counts each attribute's name, data type and value towards the message size.
    return sum(
        len(name.encode()) + len(a["DataType"]) + len(a["StringValue"].encode())
        for name, a in attrs.items()
    )


class DeadLetterQueue:
    """Sends poison records to an SQS queue, and oversize payloads to S3.

    ``sqs_client`` and ``s3_client`` are boto3 clients (built from the environment when not
    given; the S3 client only when ``bucket`` is set). Without ``bucket``, a payload too large
    for a message raises :class:`~consumers.errors.DeadLetterError`.

    Every failure to store a record durably raises ``DeadLetterError``: the caller must not
    checkpoint past that record.
    """

    def __init__(
        self,
        queue_url: str,
        *,
        sqs_client: SQSClient | None = None,
        s3_client: S3Client | None = None,
        bucket: str | None = None,
        errors_prefix: str = resources.ERRORS_PREFIX,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        if not queue_url:
            raise ValueError("queue_url must be the URL of an SQS queue")
        if max_message_bytes < 1024:
            raise ValueError(f"max_message_bytes must be >= 1024, got {max_message_bytes}")
        self.queue_url = queue_url
        self.bucket = bucket
        self.errors_prefix = errors_prefix
        self.max_message_bytes = max_message_bytes
        self._sqs = sqs_client if sqs_client is not None else aws.client("sqs")
        self._s3 = s3_client if s3_client is not None or bucket is None else aws.client("s3")
        self._fifo = queue_url.endswith(".fifo")

    def send(self, poison: PoisonRecord) -> DeadLetterReceipt:
        """Store one poison record; return where it went."""
        entry, key = self._entry(poison, "0")
        entry.pop("Id")
        try:
            resp = self._sqs.send_message(QueueUrl=self.queue_url, **entry)
        except (ClientError, BotoCoreError) as exc:
            raise self._error("SendMessage failed", poison.origin, exc) from exc
        logger.info(
            "dead-lettered %s record %s/%s (%s)",
            poison.reason,
            poison.origin.shard_id,
            poison.origin.position,
            poison.error,
        )
        return DeadLetterReceipt(resp["MessageId"], key)

    def send_batch(self, poisons: Sequence[PoisonRecord]) -> list[DeadLetterReceipt]:
        """Store several poison records (SendMessageBatch, 10 at a time, failed entries
        retried); receipts in the order given."""
        receipts: list[DeadLetterReceipt | None] = [None] * len(poisons)
        pending: list[tuple[int, dict[str, Any], str | None, int]] = []
        for i, poison in enumerate(poisons):
            entry, key = self._entry(poison, str(i))
            pending.append(
                (
                    i,
                    entry,
                    key,
                    len(entry["MessageBody"]) + _attributes_size(entry["MessageAttributes"]),
                )
            )
        for chunk in self._chunks(pending):
            self._send_chunk(chunk, poisons, receipts)
        return [r for r in receipts if r is not None]

    def _chunks(
        self, pending: list[tuple[int, dict[str, Any], str | None, int]]
    ) -> list[list[tuple[int, dict[str, Any], str | None, int]]]:
        # A batch is limited in entries and in total size, like one message.
        chunks: list[list[tuple[int, dict[str, Any], str | None, int]]] = []
        current: list[tuple[int, dict[str, Any], str | None, int]] = []
        size = 0
        for item in pending:
            if current and (
                len(current) == _BATCH_ENTRIES or size + item[3] > self.max_message_bytes
            ):
                chunks.append(current)
                current, size = [], 0
            current.append(item)
            size += item[3]
        if current:
            chunks.append(current)
        return chunks

    def _send_chunk(
        self,
        chunk: list[tuple[int, dict[str, Any], str | None, int]],
        poisons: Sequence[PoisonRecord],
        receipts: list[DeadLetterReceipt | None],
    ) -> None:
        by_id = {entry["Id"]: (i, key) for i, entry, key, _ in chunk}
        entries = [entry for _, entry, _, _ in chunk]
        for attempt in range(1, _BATCH_ATTEMPTS + 1):
            try:
                resp = self._sqs.send_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=cast("list[SendMessageBatchRequestEntryTypeDef]", entries),
                )
            except (ClientError, BotoCoreError) as exc:
                first = poisons[chunk[0][0]].origin
                raise self._error("SendMessageBatch failed", first, exc) from exc
            for ok in resp.get("Successful", []):
                i, key = by_id[ok["Id"]]
                receipts[i] = DeadLetterReceipt(ok["MessageId"], key)
            failed = resp.get("Failed", [])
            if not failed:
                return
            retryable = {f["Id"] for f in failed if not f.get("SenderFault")}
            if len(retryable) < len(failed) or attempt == _BATCH_ATTEMPTS:
                worst = failed[0]
                origin = poisons[by_id[worst["Id"]][0]].origin
                raise DeadLetterError(
                    f"SQS rejected {len(failed)} dead letter(s): {worst.get('Message', '')}",
                    stream=origin.stream,
                    shard_id=origin.shard_id,
                    sequence_number=origin.sequence_number,
                    error_code=worst.get("Code"),
                )
            entries = [e for e in entries if e["Id"] in retryable]

    def _entry(self, poison: PoisonRecord, entry_id: str) -> tuple[dict[str, Any], str | None]:
        attrs = _attributes(poison)
        body = message_body(poison)
        key: str | None = None
        if len(body) + _attributes_size(attrs) > self.max_message_bytes:
            key = self._store_payload(poison, len(body))
            body = message_body(poison, payload_location=(self.bucket or "", key))
        entry: dict[str, Any] = {
            "Id": entry_id,
            "MessageBody": body.decode(),
            "MessageAttributes": attrs,
        }
        if self._fifo:
            origin = poison.origin
            entry["MessageGroupId"] = f"{origin.stream}/{origin.shard_id}"
            entry["MessageDeduplicationId"] = hashlib.sha256(
                f"{origin.stream}/{origin.shard_id}/{origin.position}/{poison.reason}".encode()
            ).hexdigest()
        return entry, key

    def _store_payload(self, poison: PoisonRecord, body_size: int) -> str:
        origin = poison.origin
        if self.bucket is None or self._s3 is None:
            raise DeadLetterError(
                f"dead letter of {body_size} bytes exceeds the SQS limit of "
                f"{self.max_message_bytes} bytes and no S3 bucket is configured for payloads",
                stream=origin.stream,
                shard_id=origin.shard_id,
                sequence_number=origin.sequence_number,
            )
        key = payload_key(self.errors_prefix, origin)
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=poison.payload,
                ContentType="application/octet-stream",
                Metadata={"reason": poison.reason, "shard-id": origin.shard_id},
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error(f"PutObject s3://{self.bucket}/{key} failed", origin, exc) from exc
        return key

    @staticmethod
    def _error(what: str, origin: Origin, exc: Exception) -> DeadLetterError:
        return DeadLetterError(
            f"{what}: {exc}",
            stream=origin.stream,
            shard_id=origin.shard_id,
            sequence_number=origin.sequence_number,
            error_code=aws.error_code(exc),
        )
