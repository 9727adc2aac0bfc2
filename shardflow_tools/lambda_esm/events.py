"""The Kinesis event Lambda sends, built from GetRecords items (pure code).

Shape as documented for Kinesis event sources::

    {"Records": [{"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "1",
                              "sequenceNumber": "4959…", "data": "<base64>",
                              "approximateArrivalTimestamp": 1545084650.987},
                  "eventSource": "aws:kinesis", "eventVersion": "1.0",
                  "eventID": "shardId-000000000006:4959…", "eventName": "aws:kinesis:record",
                  "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
                  "awsRegion": "us-east-2",
                  "eventSourceARN": "arn:aws:kinesis:us-east-2:123456789012:stream/s"}]}
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

KINESIS_SCHEMA_VERSION: Final = "1.0"
EVENT_SOURCE: Final = "aws:kinesis"
EVENT_VERSION: Final = "1.0"
EVENT_NAME: Final = "aws:kinesis:record"
#: Bytes a record adds to the event around its base64 data (keys, ARNs, ids), rounded up.
RECORD_OVERHEAD_BYTES: Final = 600


@dataclass(frozen=True, slots=True)
class Source:
    """Where records come from and who reads them: the constant fields of every record."""

    stream_arn: str
    region: str
    invoke_identity_arn: str
    #: The function's ARN (invocation records name it).
    function_arn: str = ""

    @classmethod
    def local(cls, stream: str, *, region: str, account_id: str, function_name: str) -> Source:
        """ARNs as AWS would form them, for a stream whose ARN the endpoint did not give."""
        return cls.for_stream_arn(
            f"arn:aws:kinesis:{region}:{account_id}:stream/{stream}",
            region=region,
            function_name=function_name,
        )

    @classmethod
    def for_stream_arn(cls, stream_arn: str, *, region: str, function_name: str) -> Source:
        """ARNs in the stream's account, as Lambda would name the function and its role."""
        parts = stream_arn.split(":")
        account = parts[4] if len(parts) > 5 and parts[4] else "000000000000"
        return cls(
            stream_arn=stream_arn,
            region=region,
            invoke_identity_arn=f"arn:aws:iam::{account}:role/{function_name}-role",
            function_arn=f"arn:aws:lambda:{region}:{account}:function:{function_name}",
        )


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """One record read from a shard, with the dict Lambda puts in the event for it."""

    shard_id: str
    sequence_number: str
    partition_key: str
    #: approximateArrivalTimestamp, Unix seconds with millisecond precision.
    arrival: float
    #: The item of the event's ``Records`` list.
    event_record: dict[str, Any]
    #: How many bytes the record adds to the invocation payload (approximately).
    size: int

    @property
    def seq(self) -> int:
        """The sequence number as an int (sequence numbers order numerically)."""
        return int(self.sequence_number)


def arrival_seconds(value: datetime | float) -> float:
    """approximateArrivalTimestamp as Lambda writes it: Unix seconds, three decimals."""
    stamp = value.timestamp() if isinstance(value, datetime) else float(value)
    return round(stamp, 3)


def to_stream_record(item: Mapping[str, Any], *, shard_id: str, source: Source) -> StreamRecord:
    """A boto3 GetRecords item as the record Lambda would deliver."""
    data: bytes = item["Data"]
    sequence_number: str = item["SequenceNumber"]
    arrival = arrival_seconds(item["ApproximateArrivalTimestamp"])
    encoded = base64.b64encode(data).decode("ascii")
    event_record = {
        "kinesis": {
            "kinesisSchemaVersion": KINESIS_SCHEMA_VERSION,
            "partitionKey": item["PartitionKey"],
            "sequenceNumber": sequence_number,
            "data": encoded,
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": EVENT_SOURCE,
        "eventVersion": EVENT_VERSION,
        "eventID": f"{shard_id}:{sequence_number}",
        "eventName": EVENT_NAME,
        "invokeIdentityArn": source.invoke_identity_arn,
        "awsRegion": source.region,
        "eventSourceARN": source.stream_arn,
    }
    return StreamRecord(
        shard_id=shard_id,
        sequence_number=sequence_number,
        partition_key=item["PartitionKey"],
        arrival=arrival,
        event_record=event_record,
        size=len(encoded) + len(item["PartitionKey"]) + RECORD_OVERHEAD_BYTES,
    )


def build_event(records: Sequence[StreamRecord]) -> dict[str, Any]:
    """The invocation payload for a batch."""
    return {"Records": [r.event_record for r in records]}
