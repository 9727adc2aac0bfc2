"""Dead letters against the emulator: the payload travels with the message, or via S3."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from consumers import DeadLetterError, DeadLetterQueue, KinesisRecord, PoisonRecord, decode
from shardflow import kpl
from shardflow_tools.bootstrap import BootstrapReport, BucketSpec, QueueSpec

ARRIVAL = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def queue_url(unique_name: Callable[[str], str], provision: Callable[..., BootstrapReport]) -> str:
    name = unique_name("dlq")
    return provision(QueueSpec(name)).queue_urls[name]


def _receive(sqs: Any, url: str, n: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for _ in range(10):  # bounded: the emulator answers at once
        resp = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        )
        messages += resp.get("Messages", [])
        if len(messages) >= n:
            break
    return messages


def _poison(payload: bytes, seq: str = "4900000000000000000001") -> PoisonRecord:
    rec = KinesisRecord("orders", "shardId-000000000002", seq, "pk-9", payload, ARRIVAL)
    (item,) = decode(rec)
    assert isinstance(item, PoisonRecord)
    return item


def test_poison_record_lands_in_sqs_with_payload_and_origin(
    aws_client: Callable[[str], Any], queue_url: str
) -> None:
    sqs = aws_client("sqs")
    payload = b"\x00\xffnot json at all"
    receipt = DeadLetterQueue(queue_url, sqs_client=sqs).send(_poison(payload))
    assert receipt.payload_key is None
    (msg,) = _receive(sqs, queue_url, 1)
    body = orjson.loads(msg["Body"])
    assert base64.b64decode(body["payload_base64"]) == payload
    assert body["payload_sha256"] == hashlib.sha256(payload).hexdigest()
    assert body["reason"] == "invalid_envelope"
    assert "JSON" in body["error"]
    assert (body["stream"], body["shard_id"], body["sequence_number"]) == (
        "orders",
        "shardId-000000000002",
        "4900000000000000000001",
    )
    assert body["sub_sequence_number"] is None
    assert body["partition_key"] == "pk-9"
    assert body["arrival_time"] == "2026-11-26T12:00:00.000Z"
    assert msg["MessageAttributes"]["reason"]["StringValue"] == "invalid_envelope"


def test_corrupt_aggregate_is_dead_lettered_whole(
    aws_client: Callable[[str], Any], queue_url: str
) -> None:
    sqs = aws_client("sqs")
    blob = bytearray(kpl.aggregate([("pk", b'{"a":1}'), ("pk", b'{"a":2}')]))
    blob[-2] ^= 0x55
    DeadLetterQueue(queue_url, sqs_client=sqs).send(_poison(bytes(blob)))
    (msg,) = _receive(sqs, queue_url, 1)
    body = orjson.loads(msg["Body"])
    assert body["reason"] == "corrupt_aggregate"
    assert base64.b64decode(body["payload_base64"]) == bytes(blob)


def test_oversize_payload_goes_to_s3_errors_and_the_message_references_it(
    aws_client: Callable[[str], Any],
    queue_url: str,
    unique_name: Callable[[str], str],
    provision: Callable[..., BootstrapReport],
) -> None:
    sqs, s3 = aws_client("sqs"), aws_client("s3")
    bucket = unique_name("bucket")
    provision(BucketSpec(bucket))
    payload = b"x" * (300 * 1024)  # over SQS' 256 KiB, even before base64
    dlq = DeadLetterQueue(queue_url, sqs_client=sqs, s3_client=s3, bucket=bucket)
    receipt = dlq.send(_poison(payload))
    assert receipt.payload_key == "errors/orders/shardId-000000000002/4900000000000000000001.bin"
    (msg,) = _receive(sqs, queue_url, 1)
    body = orjson.loads(msg["Body"])
    assert "payload_base64" not in body
    assert body["payload_s3"] == {"bucket": bucket, "key": receipt.payload_key}
    assert body["payload_size"] == len(payload)
    stored = s3.get_object(Bucket=bucket, Key=receipt.payload_key)["Body"].read()
    assert stored == payload


def test_batch_send_splits_by_count_and_size(
    aws_client: Callable[[str], Any],
    queue_url: str,
    unique_name: Callable[[str], str],
    provision: Callable[..., BootstrapReport],
) -> None:
    sqs, s3 = aws_client("sqs"), aws_client("s3")
    bucket = unique_name("bucket")
    provision(BucketSpec(bucket))
    poisons = [_poison(b"y" * 60_000 + bytes([i]), seq=str(100 + i)) for i in range(12)]
    poisons.append(_poison(b"z" * 400_000, seq="999"))
    dlq = DeadLetterQueue(queue_url, sqs_client=sqs, s3_client=s3, bucket=bucket)
    receipts = dlq.send_batch(poisons)
    assert len(receipts) == 13
    assert [r.payload_key is not None for r in receipts] == [False] * 12 + [True]
    bodies = [orjson.loads(m["Body"]) for m in _receive(sqs, queue_url, 13)]
    expected = [*sorted(str(100 + i) for i in range(12)), "999"]
    assert sorted(b["sequence_number"] for b in bodies) == expected


def test_oversize_payload_without_bucket_raises(
    aws_client: Callable[[str], Any], queue_url: str
) -> None:
    dlq = DeadLetterQueue(queue_url, sqs_client=aws_client("sqs"))
    with pytest.raises(DeadLetterError, match="no S3 bucket") as err:
        dlq.send(_poison(b"x" * (300 * 1024)))
    assert err.value.shard_id == "shardId-000000000002"


def test_missing_queue_raises_so_the_caller_does_not_checkpoint(
    aws_client: Callable[[str], Any], queue_url: str
) -> None:
    sqs = aws_client("sqs")
    sqs.delete_queue(QueueUrl=queue_url)
    with pytest.raises(DeadLetterError) as err:
        DeadLetterQueue(queue_url, sqs_client=sqs).send(_poison(b"bad"))
    assert err.value.error_code is not None
    assert err.value.sequence_number == "4900000000000000000001"
