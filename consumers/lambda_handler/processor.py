"""A powertools batch processor with stream ordering: stop a shard at its first failure.

Powertools' ``BatchProcessor(EventType.KinesisDataStreams)`` processes every record and
reports each failed one; Lambda then checkpoints before the *lowest* reported sequence
number and retries from there, so records after a failure that succeeded are processed
again (and, for a stream, out of order). :class:`ShardOrderedBatchProcessor` does what
powertools' ``SqsFifoPartialProcessor`` does for FIFO queues, per shard: once a record of a
shard fails, every later record of that shard in the batch is reported as failed without
being tried. The response names the first failure and everything after it, and the
successful records form a prefix of each shard: exactly what may be written and
checkpointed.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.base import FailureResponse, SuccessResponse

from consumers.errors import RecordShapeError
from consumers.lambda_handler.errors import ShardCircuitBreakerError
from consumers.records import KinesisRecord


def shard_of(record: dict[str, Any]) -> tuple[str, str]:
    """(stream, shard id) of a Lambda Kinesis record, as :meth:`KinesisRecord.from_lambda`
    reads them (:class:`~consumers.errors.RecordShapeError` for a malformed record)."""
    parsed = KinesisRecord.from_lambda(record)
    return parsed.stream, parsed.shard_id


class ShardOrderedBatchProcessor(BatchProcessor):
    """``BatchProcessor`` for Kinesis that fails the rest of a shard after its first failure.

    A whole failed batch is reported, not raised (``raise_on_entire_batch_failure=False``):
    Lambda retries it from the first record either way, and a report keeps the response
    shape the same for one failure and for all.
    """

    circuit_breaker_exc = (
        ShardCircuitBreakerError,
        ShardCircuitBreakerError("an earlier record of this shard failed in this batch"),
        None,
    )

    def __init__(self, *, logger: logging.Logger | Any = None) -> None:
        super().__init__(
            EventType.KinesisDataStreams, raise_on_entire_batch_failure=False, logger=logger
        )
        self._failed_shards: set[tuple[str, str]] = set()

    def _process_record(self, record: dict[str, Any]) -> SuccessResponse | FailureResponse:
        try:
            shard = self._shard_of(record)
        except RecordShapeError:
            # Not a Kinesis record (a wiring error): it fails, its shard cannot be told.
            return self.failure_handler(
                record=self._to_batch_type(record, event_type=self.event_type),
                exception=sys.exc_info(),
            )
        if shard in self._failed_shards:
            return self.failure_handler(
                record=self._to_batch_type(record, event_type=self.event_type),
                exception=self.circuit_breaker_exc,
            )
        result = super()._process_record(record)
        if result[0] == "fail":
            self._failed_shards.add(shard)
        return result

    def _shard_of(self, record: dict[str, Any]) -> tuple[str, str]:
        """The key a failure stops: (stream, shard id). A subclass that needs the record
        parsed anyway overrides this to parse it once."""
        return shard_of(record)

    def _prepare(self) -> None:
        self._failed_shards.clear()
        super()._prepare()  # type: ignore[no-untyped-call]
