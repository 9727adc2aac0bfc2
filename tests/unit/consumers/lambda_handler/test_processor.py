"""Stream ordering on top of powertools' partial batch response: a shard stops at its failure."""

from __future__ import annotations

import base64
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import (
    KinesisStreamRecord,
)

from consumers.lambda_handler import ShardOrderedBatchProcessor


def record(shard: str, seq: int, data: str) -> dict[str, Any]:
    sequence_number = f"4959{seq:052d}"
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "pk",
            "sequenceNumber": sequence_number,
            "data": base64.b64encode(data.encode()).decode(),
            "approximateArrivalTimestamp": 1545084650.987,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard}:{sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
        "awsRegion": "us-east-2",
        "eventSourceARN": "arn:aws:kinesis:us-east-2:123456789012:stream/s",
    }


def failing_on(*bad: str) -> Any:
    tried: list[str] = []

    def handle(record: KinesisStreamRecord) -> None:  # powertools passes record=
        text = record.kinesis.data_as_text()
        tried.append(text)
        if text in bad:
            raise ValueError(f"bad {text}")

    handle.tried = tried  # type: ignore[attr-defined]
    return handle


def failed_ids(response: dict[str, Any]) -> list[int]:
    return [int(f["itemIdentifier"][4:]) for f in response["batchItemFailures"]]


def test_success_reports_no_failures() -> None:
    event = {"Records": [record("shardId-0", i, f"r{i}") for i in range(1, 4)]}
    response = process_partial_response(
        event=event, record_handler=failing_on(), processor=ShardOrderedBatchProcessor()
    )
    assert response == {"batchItemFailures": []}


def test_first_failure_reports_it_and_every_later_record_untried() -> None:
    event = {"Records": [record("shardId-0", i, f"r{i}") for i in range(1, 7)]}
    handle = failing_on("r3", "r5")
    response = process_partial_response(
        event=event, record_handler=handle, processor=ShardOrderedBatchProcessor()
    )
    assert failed_ids(response) == [3, 4, 5, 6]
    assert handle.tried == ["r1", "r2", "r3"]


def test_powertools_default_would_report_only_the_failed_records() -> None:
    # What the subclass changes: the default keeps going past a failure.
    event = {"Records": [record("shardId-0", i, f"r{i}") for i in range(1, 7)]}
    handle = failing_on("r3", "r5")
    response = process_partial_response(
        event=event,
        record_handler=handle,
        processor=BatchProcessor(EventType.KinesisDataStreams),
    )
    assert failed_ids(response) == [3, 5]
    assert len(handle.tried) == 6


def test_a_failure_stops_only_its_own_shard() -> None:
    records = [
        record("shardId-0", 1, "a1"),
        record("shardId-1", 2, "b1"),
        record("shardId-0", 3, "a2"),
        record("shardId-1", 4, "b2"),
        record("shardId-0", 5, "a3"),
    ]
    handle = failing_on("a2")
    response = process_partial_response(
        event={"Records": records}, record_handler=handle, processor=ShardOrderedBatchProcessor()
    )
    assert failed_ids(response) == [3, 5]
    assert handle.tried == ["a1", "b1", "a2", "b2"]


def test_all_failing_is_reported_not_raised_and_state_resets_between_batches() -> None:
    processor = ShardOrderedBatchProcessor()
    event = {"Records": [record("shardId-0", i, f"r{i}") for i in range(1, 4)]}
    response = process_partial_response(
        event=event, record_handler=failing_on("r1"), processor=processor
    )
    assert failed_ids(response) == [1, 2, 3]
    again = process_partial_response(event=event, record_handler=failing_on(), processor=processor)
    assert again == {"batchItemFailures": []}
