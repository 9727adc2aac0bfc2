"""Every environment variable shardflow reads, named in one place.

Precedence everywhere: an explicit argument, then the environment variable, then the
default. boto3 itself honours ``AWS_ENDPOINT_URL`` (and the per-service
``AWS_ENDPOINT_URL_<SERVICE>``), ``AWS_REGION`` and the credential variables; shardflow
only adds defaults for the local emulator.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

from shardflow.errors import ConfigError

#: boto3's own variable: one setting points every client at LocalStack or the emulator.
ENDPOINT_URL: Final = "AWS_ENDPOINT_URL"
REGION: Final = "AWS_REGION"
DEFAULT_REGION_VAR: Final = "AWS_DEFAULT_REGION"

#: Region used when neither argument nor environment names one.
DEFAULT_REGION: Final = "us-east-1"
#: Port LocalStack listens on; ``shardflow local`` uses it too, so one URL serves both.
LOCAL_PORT: Final = 4566
LOCAL_HOST: Final = "127.0.0.1"

# --- Resource names (defaults in shardflow.resources) -------------------------------------
STREAM: Final = "SHARDFLOW_STREAM"
BUCKET: Final = "SHARDFLOW_BUCKET"
OUTPUT_PREFIX: Final = "SHARDFLOW_OUTPUT_PREFIX"
ERRORS_PREFIX: Final = "SHARDFLOW_ERRORS_PREFIX"
#: Output format of the S3 sink: ``parquet``, ``jsonl`` or ``iceberg``.
OUTPUT_FORMAT: Final = "SHARDFLOW_OUTPUT_FORMAT"
#: Path of a JSON file declaring the schema of the events' ``data`` (a JSON Schema subset,
#: :mod:`consumers.data_schema`): the sink writes ``data`` as a typed struct column and
#: dead-letters events that do not fit (docs/consumers.md, "Typed data columns").
DATA_SCHEMA: Final = "SHARDFLOW_DATA_SCHEMA"

# --- Iceberg output (consumers.sink.iceberg.IcebergConfig.from_env; docs/iceberg.md) -----
#: The Iceberg catalog: ``sql`` (a SQL database, SQLite locally) or ``glue`` (AWS Glue).
ICEBERG_CATALOG: Final = "SHARDFLOW_ICEBERG_CATALOG"
#: The SQL catalog's SQLAlchemy URI (default ``sqlite:///shardflow-iceberg.db``).
ICEBERG_CATALOG_URI: Final = "SHARDFLOW_ICEBERG_CATALOG_URI"
#: Where new tables' files go (default ``s3://BUCKET/PREFIX``).
ICEBERG_WAREHOUSE: Final = "SHARDFLOW_ICEBERG_WAREHOUSE"
#: The table, ``namespace.table`` (default ``shardflow.events``).
ICEBERG_TABLE: Final = "SHARDFLOW_ICEBERG_TABLE"
#: URL of the dead-letter queue (poison records with their payload).
DLQ_URL: Final = "SHARDFLOW_DLQ_URL"

# --- S3 sink buffer limits (consumers.sink.SinkConfig.from_env) -------------------------
#: Flush a shard's buffer at this many bytes of event payload (default 64 MiB).
SINK_MAX_BYTES: Final = "SHARDFLOW_SINK_MAX_BYTES"
#: Flush a shard's buffer at this many events (default 1,000,000).
SINK_MAX_RECORDS: Final = "SHARDFLOW_SINK_MAX_RECORDS"
#: Flush when the buffered events' arrival times span this many seconds (default 300).
SINK_MAX_SPAN_SECONDS: Final = "SHARDFLOW_SINK_MAX_SPAN_SECONDS"

# --- Lambda consumer (read by consumers.lambda_handler; set by terraform lambda_consumer) -
IDEMPOTENCY_TABLE: Final = "SHARDFLOW_IDEMPOTENCY_TABLE"
#: How the processing function is made idempotent: ``batch`` (consumers.idempotency: the
#: batch's ids locked and completed in a few DynamoDB calls per 100 events) or ``event``
#: (powertools' per-event idempotency, two writes per event). Same table and item layout.
IDEMPOTENCY: Final = "SHARDFLOW_IDEMPOTENCY"
IDEMPOTENCY_TTL_SECONDS: Final = "SHARDFLOW_IDEMPOTENCY_TTL_SECONDS"
ATTEMPTS_TABLE: Final = "SHARDFLOW_ATTEMPTS_TABLE"
ATTEMPTS_TTL_SECONDS: Final = "SHARDFLOW_ATTEMPTS_TTL_SECONDS"
#: Attempts at a record before it is dead-lettered and the shard moves on.
MAX_ATTEMPTS: Final = "SHARDFLOW_MAX_ATTEMPTS"
#: How long an in-progress idempotency record blocks a retry of the same event (seconds);
#: unset means powertools' default, the invocation's remaining time.
IDEMPOTENCY_IN_PROGRESS_EXPIRY_SECONDS: Final = "SHARDFLOW_IDEMPOTENCY_IN_PROGRESS_EXPIRY_SECONDS"
#: CloudWatch namespace of the handler's EMF metrics (default ``shardflow``).
METRICS_NAMESPACE: Final = "SHARDFLOW_METRICS_NAMESPACE"
#: ``true`` turns on powertools Tracer (X-Ray); off by default.
TRACING: Final = "SHARDFLOW_TRACING"
#: Per-event processing of the Lambda consumer, as ``module:function`` (called with each
#: ``consumers.Event``; raising fails the event). Unset or empty: events only go to S3.
#: Optional, so not in LAMBDA_HANDLER_VARIABLES (Terraform sets it from ``processor``).
PROCESSOR: Final = "SHARDFLOW_PROCESSOR"
#: Set by the Lambda runtime; names the consumer in idempotency keys and attempt counts.
LAMBDA_FUNCTION_NAME: Final = "AWS_LAMBDA_FUNCTION_NAME"
#: Log level: of the CLI on stderr, and of the Lambda handler's JSON logs (the Terraform
#: module sets it from ``log_level``; unset there, powertools' own variables decide).
LOG_LEVEL: Final = "SHARDFLOW_LOG_LEVEL"
#: powertools' own: the handler's service name (logs, metric dimension ``service``).
POWERTOOLS_SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"

# --- Event source mapping --------------------------------------------------------------------
# The local runner (``shardflow consume lambda``) reads these; the Terraform module
# ``lambda_consumer`` has a variable of the same name in lower case without the prefix
# (``SHARDFLOW_BATCH_SIZE`` <-> ``batch_size``), so a local run and the deployed mapping
# behave alike. A test holds the two together.
BATCH_SIZE: Final = "SHARDFLOW_BATCH_SIZE"
MAXIMUM_BATCHING_WINDOW_IN_SECONDS: Final = "SHARDFLOW_MAXIMUM_BATCHING_WINDOW_IN_SECONDS"
STARTING_POSITION: Final = "SHARDFLOW_STARTING_POSITION"
#: With AT_TIMESTAMP: RFC 3339 or Unix seconds.
STARTING_POSITION_TIMESTAMP: Final = "SHARDFLOW_STARTING_POSITION_TIMESTAMP"
PARALLELIZATION_FACTOR: Final = "SHARDFLOW_PARALLELIZATION_FACTOR"
BISECT_BATCH_ON_FUNCTION_ERROR: Final = "SHARDFLOW_BISECT_BATCH_ON_FUNCTION_ERROR"
MAXIMUM_RETRY_ATTEMPTS: Final = "SHARDFLOW_MAXIMUM_RETRY_ATTEMPTS"
MAXIMUM_RECORD_AGE_IN_SECONDS: Final = "SHARDFLOW_MAXIMUM_RECORD_AGE_IN_SECONDS"
#: URL of the OnFailure destination (SQS) of the mapping.
ON_FAILURE_QUEUE_URL: Final = "SHARDFLOW_ON_FAILURE_QUEUE_URL"
#: The local runner's checkpoint table (Lambda's own mapping keeps its position itself).
CHECKPOINT_TABLE: Final = "SHARDFLOW_CHECKPOINT_TABLE"
#: Local runner only: FunctionResponseTypes (``ReportBatchItemFailures``, the default, or
#: ``none``); the Terraform module always sets ReportBatchItemFailures.
FUNCTION_RESPONSE_TYPES: Final = "SHARDFLOW_FUNCTION_RESPONSE_TYPES"
#: Local runner only: the function timeout it reports through the context (seconds).
LAMBDA_TIMEOUT_SECONDS: Final = "SHARDFLOW_LAMBDA_TIMEOUT_SECONDS"

#: What the deployed Lambda function reads from its environment.
LAMBDA_HANDLER_VARIABLES: Final = (
    BUCKET,
    OUTPUT_PREFIX,
    ERRORS_PREFIX,
    OUTPUT_FORMAT,
    DLQ_URL,
    IDEMPOTENCY_TABLE,
    IDEMPOTENCY,
    IDEMPOTENCY_TTL_SECONDS,
    ATTEMPTS_TABLE,
    ATTEMPTS_TTL_SECONDS,
    MAX_ATTEMPTS,
    IDEMPOTENCY_IN_PROGRESS_EXPIRY_SECONDS,
    METRICS_NAMESPACE,
    TRACING,
)
#: The event source mapping's settings, each also a ``lambda_consumer`` Terraform variable.
EVENT_SOURCE_MAPPING_VARIABLES: Final = (
    BATCH_SIZE,
    MAXIMUM_BATCHING_WINDOW_IN_SECONDS,
    STARTING_POSITION,
    STARTING_POSITION_TIMESTAMP,
    PARALLELIZATION_FACTOR,
    BISECT_BATCH_ON_FUNCTION_ERROR,
    MAXIMUM_RETRY_ATTEMPTS,
    MAXIMUM_RECORD_AGE_IN_SECONDS,
)


def env(
    name: str, default: str | None = None, *, environ: Mapping[str, str] | None = None
) -> str | None:
    """The value of environment variable ``name`` (in ``environ``, default the process
    environment), or ``default`` when unset or empty."""
    value = (os.environ if environ is None else environ).get(name)
    return value if value else default


def endpoint_url() -> str | None:
    """The endpoint every AWS client should use, or None for AWS itself."""
    return env(ENDPOINT_URL)


def region() -> str:
    """The AWS region: ``AWS_REGION``, then ``AWS_DEFAULT_REGION``, then us-east-1."""
    return env(REGION) or env(DEFAULT_REGION_VAR) or DEFAULT_REGION


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def env_int(name: str, default: int) -> int:
    """Environment variable ``name`` as an int; :class:`ConfigError` naming it when malformed."""
    value = env(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigError(name, f"expected an integer, got {value!r}") from exc


def env_float(name: str, default: float, *, environ: Mapping[str, str] | None = None) -> float:
    """Environment variable ``name`` as a float; :class:`ConfigError` naming it when malformed."""
    value = env(name, environ=environ)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ConfigError(name, f"expected a number, got {value!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    """Environment variable ``name`` as a bool (true/false, 1/0, yes/no, on/off)."""
    value = env(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(name, f"expected true or false, got {value!r}")


# --- KCL consumer (read by consumers.kcl; set by ``shardflow consume kcl``) -------------------
#: The KCL application name, which is also the lease table's name.
KCL_APPLICATION: Final = "SHARDFLOW_KCL_APPLICATION"
#: ``package.module:function`` called with each decoded event before it is written to S3.
KCL_HANDLER: Final = "SHARDFLOW_KCL_HANDLER"
#: Seconds between checkpoints while processing (0: after every flush that moved forward).
KCL_CHECKPOINT_INTERVAL_SECONDS: Final = "SHARDFLOW_KCL_CHECKPOINT_INTERVAL_SECONDS"
#: Attempts at a checkpoint the daemon answers with ThrottlingException.
KCL_CHECKPOINT_ATTEMPTS: Final = "SHARDFLOW_KCL_CHECKPOINT_ATTEMPTS"
#: Seconds a processor waits after SIGINT/SIGTERM/SIGHUP for the daemon to shut it down
#: before it exits on its own (``shardflow consume kcl`` derives it from the shutdown grace).
KCL_SHUTDOWN_TIMEOUT_SECONDS: Final = "SHARDFLOW_KCL_SHUTDOWN_TIMEOUT_SECONDS"

#: Prefix of the producer's settings: ``SHARDFLOW_PRODUCER_<FIELD>`` for every field of
#: :class:`producers.ProducerConfig` (``SHARDFLOW_PRODUCER_MAX_BUFFER_TIME=0.05``,
#: ``SHARDFLOW_PRODUCER_AGGREGATION=false``, ``SHARDFLOW_PRODUCER_SHARD_BYTES_PER_SECOND=none``),
#: read by ``ProducerConfig.from_env()``.
PRODUCER_ENV_PREFIX: Final = "SHARDFLOW_PRODUCER_"
