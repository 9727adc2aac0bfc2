"""Dead-letter error paths: partial batch failures are retried or raised, never dropped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from consumers import DeadLetterError, DeadLetterQueue, Origin, PoisonRecord
from consumers.deadletter import message_body, payload_key

URL = "https://sqs.us-east-1.amazonaws.com/123456789012/dlq"


def _poison(i: int) -> PoisonRecord:
    origin = Origin(
        "s", "shardId-000000000001", str(100 + i), None, "pk", datetime(2026, 1, 1, tzinfo=UTC)
    )
    return PoisonRecord(origin, b"payload-%d" % i, "invalid_envelope", "bad")


def _sqs() -> Any:
    return boto3.client(
        "sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_retryable_failures_are_sent_again() -> None:
    sqs = _sqs()
    with Stubber(sqs) as stub:
        stub.add_response(
            "send_message_batch",
            {
                "Successful": [{"Id": "0", "MessageId": "m0", "MD5OfMessageBody": "x"}],
                "Failed": [{"Id": "1", "SenderFault": False, "Code": "InternalError"}],
            },
            {"QueueUrl": URL, "Entries": ANY},
        )
        stub.add_response(
            "send_message_batch",
            {"Successful": [{"Id": "1", "MessageId": "m1", "MD5OfMessageBody": "x"}], "Failed": []},
            {"QueueUrl": URL, "Entries": ANY},
        )
        receipts = DeadLetterQueue(URL, sqs_client=sqs).send_batch([_poison(0), _poison(1)])
    assert [r.message_id for r in receipts] == ["m0", "m1"]


def test_sender_fault_raises_with_the_record_context() -> None:
    sqs = _sqs()
    with Stubber(sqs) as stub:
        stub.add_response(
            "send_message_batch",
            {
                "Successful": [],
                "Failed": [
                    {
                        "Id": "0",
                        "SenderFault": True,
                        "Code": "InvalidMessageContents",
                        "Message": "no",
                    }
                ],
            },
        )
        with pytest.raises(DeadLetterError) as err:
            DeadLetterQueue(URL, sqs_client=sqs).send_batch([_poison(0)])
    assert err.value.error_code == "InvalidMessageContents"
    assert err.value.sequence_number == "100"


def test_throttled_send_raises_dead_letter_error() -> None:
    sqs = _sqs()
    with Stubber(sqs) as stub:
        stub.add_client_error(
            "send_message", service_error_code="RequestThrottled", http_status_code=403
        )
        with pytest.raises(DeadLetterError) as err:
            DeadLetterQueue(URL, sqs_client=sqs).send(_poison(3))
    assert err.value.error_code == "RequestThrottled"
    assert "shard=shardId-000000000001" in str(err.value)


def test_fifo_queue_messages_carry_group_and_deduplication_ids() -> None:
    sqs = _sqs()
    with Stubber(sqs) as stub:
        stub.add_response(
            "send_message",
            {"MessageId": "m"},
            {
                "QueueUrl": URL + ".fifo",
                "MessageBody": ANY,
                "MessageAttributes": ANY,
                "MessageGroupId": "s/shardId-000000000001",
                "MessageDeduplicationId": ANY,
            },
        )
        receipt = DeadLetterQueue(URL + ".fifo", sqs_client=sqs).send(_poison(0))
        # The stubbed call was made (with those parameters), not merely allowed.
        stub.assert_no_pending_responses()
    assert receipt.message_id == "m"


def test_payload_key_and_body_are_functions_of_the_origin() -> None:
    poison = _poison(5)
    assert payload_key("errors/", poison.origin) == "errors/s/shardId-000000000001/105.bin"
    assert message_body(poison) == message_body(_poison(5))
