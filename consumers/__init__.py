"""Consumer core: decode Kinesis records, dead-letter poison records, write Athena-ready S3.

Both consumers (``consumers.kcl``, ``consumers.lambda_handler``) are built from these parts:

* :class:`KinesisRecord` (``from_get_records`` / ``from_lambda`` / ``from_kcl``) and
  :func:`decode` -> :class:`Event` or :class:`PoisonRecord`, each with its :class:`Origin`;
* :class:`DeadLetterQueue`: poison records to SQS with their payload (S3 when oversize);
* :class:`S3Sink` / :class:`ShardWriter`: Hive-partitioned Parquet or JSON Lines, exactly
  once under replay; :attr:`ShardWriter.checkpointable` is what a consumer checkpoints;
* :data:`SCHEMA` and :func:`create_table_ddl`: the table, for Athena, Glue and DuckDB.

Both runtimes run their records through one pipeline (:mod:`consumers.pipeline`: decode,
poison records to the dead-letter queue, the user's handler with its one contract,
:mod:`consumers.handler`, the shard writer) with a failure policy
(:mod:`consumers.failure_policy`) that decides what a failing event gets.

Parquet needs the ``parquet`` extra (pyarrow, imported on first use).
"""

from consumers.athena import create_table_ddl, table_parameters
from consumers.data_schema import DataSchema
from consumers.deadletter import DeadLetterQueue, DeadLetterReceipt
from consumers.decoding import Decoded, decode, decode_all, decode_user_record
from consumers.errors import (
    ConsumerError,
    DeadLetterError,
    PositionOrderError,
    RecordShapeError,
    SinkError,
)
from consumers.records import (
    Event,
    KinesisRecord,
    Origin,
    PoisonReason,
    PoisonRecord,
    Position,
)
from consumers.schema import SCHEMA, PartitionKey, TableSchema
from consumers.sink import FlushResult, S3Sink, ShardWriter, SinkConfig

__all__ = [
    "SCHEMA",
    "ConsumerError",
    "DataSchema",
    "DeadLetterError",
    "DeadLetterQueue",
    "DeadLetterReceipt",
    "Decoded",
    "Event",
    "FlushResult",
    "KinesisRecord",
    "Origin",
    "PartitionKey",
    "PoisonReason",
    "PoisonRecord",
    "Position",
    "PositionOrderError",
    "RecordShapeError",
    "S3Sink",
    "ShardWriter",
    "SinkConfig",
    "SinkError",
    "TableSchema",
    "create_table_ddl",
    "decode",
    "decode_all",
    "decode_user_record",
    "table_parameters",
]
