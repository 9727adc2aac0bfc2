"""The S3 sink: Hive-partitioned Parquet or gzip JSON Lines for Athena, written exactly once.

Usage, per shard::

    sink = S3Sink("my-bucket", stream="events", config=SinkConfig(format="parquet"))
    writer = sink.shard("shardId-000000000000", resume_from=checkpoint)
    for item in decode(record):
        if isinstance(item, Event):
            writer.add(item)
        else:
            dlq.send(item)
            writer.skip(item.origin)
    checkpoint = writer.checkpointable

Two writers of one shard are fenced: the one that lost the shard gets
:class:`~consumers.errors.FencedError` (a ``SinkError``) and must stop without checkpointing.
See :mod:`consumers.sink.writer` for the exactly-once design (and docs/exactly-once.md),
:mod:`consumers.sink.layout` for the S3 layout and :mod:`consumers.sink.testing` for an
in-memory store for tests.
"""

from consumers.errors import FencedError
from consumers.sink.config import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_RECORDS,
    DEFAULT_MAX_SPAN_SECONDS,
    OutputFormat,
    SinkConfig,
)
from consumers.sink.writer import FlushResult, S3Sink, ShardWriter, WrittenObject

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_RECORDS",
    "DEFAULT_MAX_SPAN_SECONDS",
    "FencedError",
    "FlushResult",
    "OutputFormat",
    "S3Sink",
    "ShardWriter",
    "SinkConfig",
    "WrittenObject",
]
