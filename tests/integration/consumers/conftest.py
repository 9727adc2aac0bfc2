"""Shared helpers of the consumer-core integration tests: buckets, records, read-back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from consumers import KinesisRecord, localquery
from shardflow import envelope, kpl
from shardflow_tools.bootstrap import BootstrapReport, BucketSpec

SHARD = "shardId-000000000000"
#: 10:58 UTC: the records' event times cross into the next hour.
T0 = datetime(2026, 11, 26, 10, 58, tzinfo=UTC)


def make_records(
    stream: str, n_records: int = 60, *, per_aggregate: int = 5
) -> list[KinesisRecord]:
    """Kinesis records in stream order: every third one plain, the others KPL aggregates;
    event times one second apart from T0, arrival times two seconds apart."""
    out: list[KinesisRecord] = []
    n = 0
    for i in range(n_records):
        count = 1 if i % 3 == 0 else per_aggregate
        raws = []
        for _ in range(count):
            when = envelope.format_time(int((T0 + timedelta(seconds=n)).timestamp() * 1000))
            env = envelope.build(
                {"type": f"type-{n % 3}", "time": when, "data": {"n": n}}, default_source="test"
            )
            raws.append(envelope.encode(env))
            n += 1
        data = (
            raws[0] if count == 1 else kpl.aggregate([(f"pk-{j}", r) for j, r in enumerate(raws)])
        )
        seq = str(49_000_000_000_000_000_000 + i * 7)
        out.append(KinesisRecord(stream, SHARD, seq, "pk", data, T0 + timedelta(seconds=2 * i)))
    return out


@pytest.fixture
def bucket(
    unique_name: Callable[[str], str], provision: Callable[..., BootstrapReport]
) -> Iterator[str]:
    name = unique_name("bucket")
    provision(BucketSpec(name))
    yield name


@pytest.fixture
def s3(aws_client: Callable[[str], Any]) -> Any:
    return aws_client("s3")


def list_keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def query(
    s3: Any, bucket: str, sql: str, prefix: str = "events", tmp: Path | None = None
) -> list[tuple[Any, ...]]:
    with localquery.connect_s3(s3, bucket, prefix) as con:
        return localquery.run(con, sql)[1]
