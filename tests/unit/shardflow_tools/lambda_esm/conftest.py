"""Records shaped like what the runner reads, for the pure parts of the mapping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from shardflow_tools.lambda_esm.events import Source, StreamRecord, to_stream_record

SOURCE = Source(
    stream_arn="arn:aws:kinesis:us-east-1:123456789012:stream/s",
    region="us-east-1",
    invoke_identity_arn="arn:aws:iam::123456789012:role/fn-role",
)

MakeRecords = Callable[..., list[StreamRecord]]


@pytest.fixture
def make_records() -> MakeRecords:
    """``make_records(n, start=1, key=None, arrival=1_700_000_000.0, size=10)``."""

    def make(
        n: int,
        *,
        start: int = 1,
        key: str | None = None,
        arrival: float = 1_700_000_000.0,
        shard_id: str = "shardId-000000000000",
        data: bytes = b"x" * 10,
    ) -> list[StreamRecord]:
        out = []
        for i in range(start, start + n):
            item = {
                "SequenceNumber": f"4959{i:052d}",
                "ApproximateArrivalTimestamp": datetime.fromtimestamp(arrival + i, tz=UTC),
                "Data": data,
                "PartitionKey": key if key is not None else f"pk-{i}",
            }
            out.append(to_stream_record(item, shard_id=shard_id, source=SOURCE))
        return out

    return make
