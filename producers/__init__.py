"""The shardflow producer client: events into Kinesis, batched, aggregated, never lost silently.

::

    from producers import EventProducer, ProducerConfig

    with EventProducer("events", config=ProducerConfig(), client=kinesis) as producer:
        future = producer.put({"type": "page_view", "data": {"path": "/"}},
                              partition_key="user-42")
    future.result()  # PutResult(shard_id='shardId-…', sequence_number='…', …)

Depends only on the shardflow core, boto3 and orjson.
"""

from __future__ import annotations

from producers.config import ProducerConfig
from producers.exceptions import (
    BufferFullError,
    DeliveryError,
    FlushTimeoutError,
    InvalidEnvelopeError,
    InvalidEventError,
    InvalidExplicitHashKeyError,
    InvalidPartitionKeyError,
    InvalidRecordError,
    ProducerClosedError,
    ProducerError,
    RecordExpiredError,
    RecordTooLargeError,
    SerializationError,
    StreamNotFoundError,
)
from producers.futures import FailedRecord, PutResult, RecordFuture
from producers.metrics import EmfMetrics, InMemoryMetrics, Metric, MetricsCollector, NullMetrics
from producers.producer import Event, EventProducer

__all__ = [
    "BufferFullError",
    "DeliveryError",
    "EmfMetrics",
    "Event",
    "EventProducer",
    "FailedRecord",
    "FlushTimeoutError",
    "InMemoryMetrics",
    "InvalidEnvelopeError",
    "InvalidEventError",
    "InvalidExplicitHashKeyError",
    "InvalidPartitionKeyError",
    "InvalidRecordError",
    "Metric",
    "MetricsCollector",
    "NullMetrics",
    "ProducerClosedError",
    "ProducerConfig",
    "ProducerError",
    "PutResult",
    "RecordExpiredError",
    "RecordFuture",
    "RecordTooLargeError",
    "SerializationError",
    "StreamNotFoundError",
]
