"""Settings of the local event source mapping, validated as Lambda validates them.

:class:`MappingConfig` holds what ``CreateEventSourceMapping`` takes for a Kinesis source
(same names, snake case, same ranges and defaults), read from the ``SHARDFLOW_*`` variables
the Terraform module exposes. :class:`RunnerOptions` holds what only the local runner has:
its function name and timeout, checkpoint table and polling cadence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal, get_args

from shardflow import resources, settings
from shardflow.errors import ConfigError

StartingPosition = Literal["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"]
_STARTING_POSITIONS: Final = get_args(StartingPosition)

#: FunctionResponseTypes value that turns on partial batch responses.
REPORT_BATCH_ITEM_FAILURES: Final = "ReportBatchItemFailures"

MAX_BATCH_SIZE: Final = 10_000
MAX_BATCHING_WINDOW_SECONDS: Final = 300
MAX_PARALLELIZATION_FACTOR: Final = 10
MAX_RETRY_ATTEMPTS: Final = 10_000
MIN_RECORD_AGE_SECONDS: Final = 60
MAX_RECORD_AGE_SECONDS: Final = 604_800
#: Lambda's synchronous invocation payload limit: a batch's event never exceeds it.
MAX_PAYLOAD_BYTES: Final = 6 * 1024 * 1024
MAX_FUNCTION_TIMEOUT_SECONDS: Final = 900


def parse_timestamp(value: str, *, field_name: str) -> datetime:
    """An RFC 3339 timestamp or Unix seconds as an aware UTC datetime."""
    text = value.strip()
    try:
        return datetime.fromtimestamp(float(text), tz=UTC)
    except ValueError:
        pass
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(field_name, f"expected RFC 3339 or Unix seconds, got {value!r}") from exc
    if parsed.tzinfo is None:
        raise ConfigError(field_name, f"timestamp {value!r} needs a UTC offset")
    return parsed.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class MappingConfig:
    """An event source mapping's Kinesis settings, with Lambda's defaults and limits."""

    batch_size: int = 100
    maximum_batching_window_in_seconds: float = 0
    starting_position: StartingPosition = "TRIM_HORIZON"
    starting_position_timestamp: datetime | None = None
    parallelization_factor: int = 1
    bisect_batch_on_function_error: bool = False
    #: -1: retry until the record expires.
    maximum_retry_attempts: int = -1
    #: -1: no age limit.
    maximum_record_age_in_seconds: int = -1
    #: FunctionResponseTypes = [ReportBatchItemFailures].
    report_batch_item_failures: bool = True
    #: DestinationConfig.OnFailure, as the queue's URL.
    on_failure_queue_url: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ConfigError("batch_size", f"must be 1-{MAX_BATCH_SIZE}, got {self.batch_size}")
        window = self.maximum_batching_window_in_seconds
        if not 0 <= window <= MAX_BATCHING_WINDOW_SECONDS:
            raise ConfigError(
                "maximum_batching_window_in_seconds",
                f"must be 0-{MAX_BATCHING_WINDOW_SECONDS}, got {window}",
            )
        if self.starting_position not in _STARTING_POSITIONS:
            raise ConfigError(
                "starting_position",
                f"must be one of {', '.join(_STARTING_POSITIONS)}, got {self.starting_position!r}",
            )
        if (self.starting_position == "AT_TIMESTAMP") != (
            self.starting_position_timestamp is not None
        ):
            raise ConfigError(
                "starting_position_timestamp",
                "is required with AT_TIMESTAMP and only valid with it",
            )
        if not 1 <= self.parallelization_factor <= MAX_PARALLELIZATION_FACTOR:
            raise ConfigError(
                "parallelization_factor",
                f"must be 1-{MAX_PARALLELIZATION_FACTOR}, got {self.parallelization_factor}",
            )
        retries = self.maximum_retry_attempts
        if retries != -1 and not 0 <= retries <= MAX_RETRY_ATTEMPTS:
            raise ConfigError(
                "maximum_retry_attempts", f"must be -1 or 0-{MAX_RETRY_ATTEMPTS}, got {retries}"
            )
        age = self.maximum_record_age_in_seconds
        if age != -1 and not MIN_RECORD_AGE_SECONDS <= age <= MAX_RECORD_AGE_SECONDS:
            raise ConfigError(
                "maximum_record_age_in_seconds",
                f"must be -1 or {MIN_RECORD_AGE_SECONDS}-{MAX_RECORD_AGE_SECONDS}, got {age}",
            )

    @classmethod
    def from_env(cls, **overrides: object) -> MappingConfig:
        """The settings from ``SHARDFLOW_*`` variables; keyword arguments win over them."""
        values: dict[str, object] = {
            "batch_size": settings.env_int(settings.BATCH_SIZE, 100),
            "maximum_batching_window_in_seconds": settings.env_float(
                settings.MAXIMUM_BATCHING_WINDOW_IN_SECONDS, 0
            ),
            "starting_position": (
                settings.env(settings.STARTING_POSITION, "TRIM_HORIZON") or "TRIM_HORIZON"
            ).upper(),
            "parallelization_factor": settings.env_int(settings.PARALLELIZATION_FACTOR, 1),
            "bisect_batch_on_function_error": settings.env_bool(
                settings.BISECT_BATCH_ON_FUNCTION_ERROR, False
            ),
            "maximum_retry_attempts": settings.env_int(settings.MAXIMUM_RETRY_ATTEMPTS, -1),
            "maximum_record_age_in_seconds": settings.env_int(
                settings.MAXIMUM_RECORD_AGE_IN_SECONDS, -1
            ),
            "report_batch_item_failures": _response_types(
                settings.env(settings.FUNCTION_RESPONSE_TYPES, REPORT_BATCH_ITEM_FAILURES)
            ),
            "on_failure_queue_url": settings.env(settings.ON_FAILURE_QUEUE_URL),
        }
        stamp = settings.env(settings.STARTING_POSITION_TIMESTAMP)
        if stamp is not None:
            values["starting_position_timestamp"] = parse_timestamp(
                stamp, field_name=settings.STARTING_POSITION_TIMESTAMP
            )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def _response_types(value: str | None) -> bool:
    names = {part.strip() for part in (value or "").split(",") if part.strip()}
    unknown = names - {REPORT_BATCH_ITEM_FAILURES, "none", "None", "NONE"}
    if unknown:
        raise ConfigError(
            settings.FUNCTION_RESPONSE_TYPES,
            f"only {REPORT_BATCH_ITEM_FAILURES} (or none) is supported, got {sorted(unknown)}",
        )
    return REPORT_BATCH_ITEM_FAILURES in names


@dataclass(frozen=True, slots=True)
class RunnerOptions:
    """What only the local runner needs: identity, timeout, checkpoints and cadence.

    Lambda polls an idle shard about once a second (``poll_interval_seconds``) and discovers
    new shards on its own schedule (``shard_sync_interval_seconds``); tests shorten both.
    """

    function_name: str = resources.LAMBDA_FUNCTION
    #: The function timeout the context reports; an invocation that runs longer is
    #: treated as timed out once it returns (the runner cannot interrupt a thread).
    function_timeout_seconds: float = 60.0
    checkpoint_table: str = resources.CHECKPOINT_TABLE
    poll_interval_seconds: float = 1.0
    shard_sync_interval_seconds: float = 10.0
    #: First delay before retrying a failed batch; doubles per retry up to the cap.
    retry_backoff_seconds: float = 0.1
    retry_backoff_cap_seconds: float = 5.0
    #: Records read ahead of the handler per shard before polling pauses.
    max_buffered_records: int = 20_000
    region: str = field(default_factory=settings.region)
    #: Where the runner's Kinesis, DynamoDB and SQS clients go (None: AWS itself).
    endpoint_url: str | None = field(default_factory=settings.endpoint_url)

    def __post_init__(self) -> None:
        if not self.function_name:
            raise ConfigError("function_name", "must not be empty")
        if not 0 < self.function_timeout_seconds <= MAX_FUNCTION_TIMEOUT_SECONDS:
            raise ConfigError(
                "function_timeout_seconds",
                f"must be in (0, {MAX_FUNCTION_TIMEOUT_SECONDS}], "
                f"got {self.function_timeout_seconds}",
            )
        for name in ("poll_interval_seconds", "shard_sync_interval_seconds"):
            if getattr(self, name) <= 0:
                raise ConfigError(name, f"must be > 0, got {getattr(self, name)}")
        if self.retry_backoff_seconds < 0 or self.retry_backoff_cap_seconds < 0:
            raise ConfigError("retry_backoff_seconds", "backoff must be >= 0")
        if self.max_buffered_records < 1:
            raise ConfigError("max_buffered_records", "must be >= 1")

    @classmethod
    def from_env(cls, **overrides: object) -> RunnerOptions:
        """Options from ``SHARDFLOW_*`` / ``AWS_LAMBDA_FUNCTION_NAME``; keywords win."""
        values: dict[str, object] = {
            "function_name": settings.env(settings.LAMBDA_FUNCTION_NAME, resources.LAMBDA_FUNCTION),
            "function_timeout_seconds": settings.env_float(settings.LAMBDA_TIMEOUT_SECONDS, 60.0),
            "checkpoint_table": settings.env(settings.CHECKPOINT_TABLE, resources.CHECKPOINT_TABLE),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
