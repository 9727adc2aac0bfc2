"""A local Lambda event source mapping for Kinesis: ``shardflow consume lambda``.

No emulator here runs Lambda code (moto and LocalStack need Docker for it), so this package
runs a handler in-process with the semantics of the AWS event source mapping, reading the
stream through the real Kinesis API: BatchSize, MaximumBatchingWindowInSeconds,
StartingPosition, ParallelizationFactor, ReportBatchItemFailures,
BisectBatchOnFunctionError, MaximumRetryAttempts, MaximumRecordAgeInSeconds and an SQS
OnFailure destination, with the event shape Lambda sends and checkpoints in DynamoDB.

>>> runner = EventSourceMappingRunner("shardflow-events", handler)   # doctest: +SKIP
>>> runner.run(until_drained=True)                                    # doctest: +SKIP
"""

from shardflow_tools.lambda_esm.checkpoints import Checkpoint, CheckpointStore, ensure_table
from shardflow_tools.lambda_esm.config import MappingConfig, RunnerOptions
from shardflow_tools.lambda_esm.context import LocalContext
from shardflow_tools.lambda_esm.errors import (
    CheckpointConflictError,
    CheckpointError,
    HandlerImportError,
    MappingError,
    StreamNotFoundError,
)
from shardflow_tools.lambda_esm.events import Source, StreamRecord, build_event, to_stream_record
from shardflow_tools.lambda_esm.invoker import Handler, RunStats
from shardflow_tools.lambda_esm.runner import EventSourceMappingRunner

__all__ = [
    "Checkpoint",
    "CheckpointConflictError",
    "CheckpointError",
    "CheckpointStore",
    "EventSourceMappingRunner",
    "Handler",
    "HandlerImportError",
    "LocalContext",
    "MappingConfig",
    "MappingError",
    "RunStats",
    "RunnerOptions",
    "Source",
    "StreamNotFoundError",
    "StreamRecord",
    "build_event",
    "ensure_table",
    "to_stream_record",
]
