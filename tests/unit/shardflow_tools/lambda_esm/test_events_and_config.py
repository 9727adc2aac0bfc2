"""The event shape Lambda sends, the OnFailure record, and the mapping's limits."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from shardflow import settings
from shardflow.errors import ConfigError
from shardflow_tools.lambda_esm.config import MappingConfig, RunnerOptions, parse_timestamp
from shardflow_tools.lambda_esm.destination import invocation_record
from shardflow_tools.lambda_esm.events import Source, build_event, to_stream_record
from shardflow_tools.lambda_esm.lane import RETRY_ATTEMPTS_EXHAUSTED

MakeRecords = Callable[..., list[Any]]

# The record of Lambda's documented Kinesis event (developer guide, "Example event").
DOCUMENTED = {
    "kinesis": {
        "kinesisSchemaVersion": "1.0",
        "partitionKey": "1",
        "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
        "data": "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==",
        "approximateArrivalTimestamp": 1545084650.987,
    },
    "eventSource": "aws:kinesis",
    "eventVersion": "1.0",
    "eventID": "shardId-000000000006:49590338271490256608559692538361571095921575989136588898",
    "eventName": "aws:kinesis:record",
    "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
    "awsRegion": "us-east-2",
    "eventSourceARN": "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream",
}


def test_event_records_match_lambdas_documented_shape() -> None:
    item = {
        "SequenceNumber": "49590338271490256608559692538361571095921575989136588898",
        "ApproximateArrivalTimestamp": datetime.fromtimestamp(1545084650.987, tz=UTC),
        "Data": b"Hello, this is a test.",
        "PartitionKey": "1",
    }
    source = Source(
        stream_arn="arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream",
        region="us-east-2",
        invoke_identity_arn="arn:aws:iam::123456789012:role/lambda-role",
    )
    record = to_stream_record(item, shard_id="shardId-000000000006", source=source)
    event = build_event([record])
    assert event == {"Records": [DOCUMENTED]}
    assert list(event["Records"][0]) == list(DOCUMENTED)  # same key order, too
    assert base64.b64decode(event["Records"][0]["kinesis"]["data"]) == item["Data"]


def test_local_source_forms_aws_arns() -> None:
    source = Source.local("s", region="eu-west-1", account_id="111122223333", function_name="fn")
    assert source.stream_arn == "arn:aws:kinesis:eu-west-1:111122223333:stream/s"
    assert source.invoke_identity_arn == "arn:aws:iam::111122223333:role/fn-role"
    assert source.function_arn == "arn:aws:lambda:eu-west-1:111122223333:function:fn"


def test_invocation_record_has_lambdas_shape(make_records: MakeRecords) -> None:
    batch = make_records(3, arrival=1573692000.0)
    record = invocation_record(
        batch,
        condition=RETRY_ATTEMPTS_EXHAUSTED,
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:fn",
        stream_arn="arn:aws:kinesis:us-east-1:123456789012:stream/s",
        invocations=3,
        function_error=True,
        now=1573692006.021,
        request_id="req-1",
    )
    assert record["requestContext"] == {
        "requestId": "req-1",
        "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
        "condition": "RetryAttemptsExhausted",
        "approximateInvokeCount": 3,
    }
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["timestamp"] == "2019-11-14T00:40:06.021Z"
    info = record["KinesisBatchInfo"]
    assert info["shardId"] == batch[0].shard_id
    assert info["startSequenceNumber"] == batch[0].sequence_number
    assert info["endSequenceNumber"] == batch[-1].sequence_number
    assert info["approximateArrivalOfFirstRecord"] == "2019-11-14T00:40:01.000Z"
    assert info["batchSize"] == 3
    orjson.dumps(record)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("batch_size", 0),
        ("batch_size", 10_001),
        ("maximum_batching_window_in_seconds", 301),
        ("parallelization_factor", 11),
        ("maximum_retry_attempts", -2),
        ("maximum_retry_attempts", 10_001),
        ("maximum_record_age_in_seconds", 59),
        ("starting_position", "EARLIEST"),
    ],
)
def test_out_of_range_settings_name_the_field(field: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=field) as info:
        MappingConfig(**{field: value})
    assert info.value.field == field


def test_at_timestamp_needs_a_timestamp() -> None:
    with pytest.raises(ConfigError, match="starting_position_timestamp"):
        MappingConfig(starting_position="AT_TIMESTAMP")
    stamp = parse_timestamp("2026-11-26T10:00:00Z", field_name="x")
    assert MappingConfig(starting_position="AT_TIMESTAMP", starting_position_timestamp=stamp)
    assert parse_timestamp("1700000000", field_name="x") == datetime.fromtimestamp(
        1_700_000_000, tz=UTC
    )
    with pytest.raises(ConfigError, match="x"):
        parse_timestamp("yesterday", field_name="x")


def test_settings_come_from_the_terraform_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.BATCH_SIZE, "250")
    monkeypatch.setenv(settings.PARALLELIZATION_FACTOR, "3")
    monkeypatch.setenv(settings.BISECT_BATCH_ON_FUNCTION_ERROR, "true")
    monkeypatch.setenv(settings.MAXIMUM_RETRY_ATTEMPTS, "5")
    monkeypatch.setenv(settings.STARTING_POSITION, "latest")
    monkeypatch.setenv(settings.ON_FAILURE_QUEUE_URL, "http://q/1/failures")
    config = MappingConfig.from_env(batch_size=10)
    assert config.batch_size == 10  # explicit beats the environment
    assert config.parallelization_factor == 3
    assert config.bisect_batch_on_function_error
    assert config.maximum_retry_attempts == 5
    assert config.starting_position == "LATEST"
    assert config.on_failure_queue_url == "http://q/1/failures"
    assert config.report_batch_item_failures


def test_malformed_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.BATCH_SIZE, "lots")
    with pytest.raises(ConfigError, match=settings.BATCH_SIZE):
        MappingConfig.from_env()
    monkeypatch.delenv(settings.BATCH_SIZE)
    monkeypatch.setenv(settings.FUNCTION_RESPONSE_TYPES, "ReportEverything")
    with pytest.raises(ConfigError, match=settings.FUNCTION_RESPONSE_TYPES):
        MappingConfig.from_env()


def test_runner_options_validate() -> None:
    with pytest.raises(ConfigError, match="function_timeout_seconds"):
        RunnerOptions(function_timeout_seconds=901)
    with pytest.raises(ConfigError, match="poll_interval_seconds"):
        RunnerOptions(poll_interval_seconds=0)
