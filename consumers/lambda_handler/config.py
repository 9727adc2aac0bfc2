"""The handler's configuration, from the function's environment.

Every setting has a ``SHARDFLOW_*`` variable (named in :mod:`shardflow.settings`, set by
the Terraform module) and a default from :mod:`shardflow.resources`; an explicit argument
wins over both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from consumers.idempotency import DEFAULT_MODE, MODES, Mode, mode_from_env
from consumers.sink import SinkConfig
from shardflow import resources, settings
from shardflow.errors import ConfigError

#: Values of SHARDFLOW_IDEMPOTENCY_TABLE that turn idempotency off.
DISABLED: Final = frozenset({"none", "off", "disabled", "false"})
DEFAULT_MAX_ATTEMPTS: Final = 3
DEFAULT_IDEMPOTENCY_TTL_SECONDS: Final = 3600
DEFAULT_ATTEMPTS_TTL_SECONDS: Final = 7 * 24 * 3600
DEFAULT_METRICS_NAMESPACE: Final = "shardflow"
DEFAULT_SERVICE: Final = "shardflow-lambda"
_MAX_ATTEMPTS_LIMIT: Final = 1000


@dataclass(frozen=True, slots=True)
class HandlerConfig:
    """What the Lambda consumer needs to know about its resources and policies.

    * ``bucket`` / ``sink``: where the S3 sink writes, and how.
    * ``dlq_url``: the dead-letter queue (poison records with their payload); None looks up
      the queue named :data:`shardflow.resources.DEAD_LETTER_QUEUE` on first use.
    * ``processor``: the per-event processing (side effects), ``module:function``.
    * ``idempotency_table``: powertools' idempotency table, keyed on the event ``id``, that
      keeps the processing from running twice for an event; None turns it off (and without
      a processing function there is nothing to guard: the S3 output is exactly once by
      its key layout). ``idempotency_ttl_seconds``: how long a completed event is
      remembered. ``idempotency_in_progress_expiry_seconds``: how long an in-progress
      record blocks a retry (None: the invocation's remaining time, powertools' default).
      ``idempotency_mode``: ``batch`` (an invocation's ids locked and completed together,
      :mod:`consumers.lambda_handler.batch_idempotency`) or ``event`` (powertools per event,
      :mod:`consumers.lambda_handler.idempotency`); the same table and records.
    * ``attempts_table`` / ``max_attempts`` / ``attempts_ttl_seconds``: an event whose
      processing fails ``max_attempts`` times is dead-lettered and its shard moves on.
    """

    bucket: str = resources.BUCKET
    sink: SinkConfig = field(default_factory=SinkConfig)
    dlq_url: str | None = None
    errors_prefix: str = resources.ERRORS_PREFIX
    idempotency_table: str | None = resources.IDEMPOTENCY_TABLE
    idempotency_ttl_seconds: int = DEFAULT_IDEMPOTENCY_TTL_SECONDS
    idempotency_in_progress_expiry_seconds: float | None = None
    idempotency_mode: Mode = DEFAULT_MODE
    attempts_table: str = resources.ATTEMPTS_TABLE
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    attempts_ttl_seconds: int = DEFAULT_ATTEMPTS_TTL_SECONDS
    function_name: str = resources.LAMBDA_FUNCTION
    #: ``module:function`` processing each event (``SHARDFLOW_PROCESSOR``); None: none.
    processor: str | None = None
    metrics_namespace: str = DEFAULT_METRICS_NAMESPACE
    service: str = DEFAULT_SERVICE
    tracing: bool = False

    def __post_init__(self) -> None:
        if not self.bucket:
            raise ConfigError("bucket", "must name an S3 bucket")
        if not self.attempts_table:
            raise ConfigError("attempts_table", "must name a DynamoDB table")
        if not 1 <= self.max_attempts <= _MAX_ATTEMPTS_LIMIT:
            raise ConfigError(
                "max_attempts", f"must be 1-{_MAX_ATTEMPTS_LIMIT}, got {self.max_attempts}"
            )
        if self.idempotency_ttl_seconds < 1:
            raise ConfigError(
                "idempotency_ttl_seconds", f"must be >= 1, got {self.idempotency_ttl_seconds}"
            )
        expiry = self.idempotency_in_progress_expiry_seconds
        if expiry is not None and expiry <= 0:
            raise ConfigError(
                "idempotency_in_progress_expiry_seconds", f"must be > 0, got {expiry}"
            )
        if self.idempotency_mode not in MODES:
            raise ConfigError(
                "idempotency_mode",
                f"expected one of {', '.join(MODES)}, got {self.idempotency_mode!r}",
            )
        if self.attempts_ttl_seconds < 60:
            raise ConfigError(
                "attempts_ttl_seconds", f"must be >= 60, got {self.attempts_ttl_seconds}"
            )
        if not self.function_name:
            raise ConfigError("function_name", "must not be empty")
        if not self.metrics_namespace:
            raise ConfigError("metrics_namespace", "must not be empty")

    @classmethod
    def from_env(cls, **overrides: object) -> HandlerConfig:
        """The configuration from ``SHARDFLOW_*`` variables; keyword arguments win."""
        table = settings.env(settings.IDEMPOTENCY_TABLE, resources.IDEMPOTENCY_TABLE)
        expiry = settings.env(settings.IDEMPOTENCY_IN_PROGRESS_EXPIRY_SECONDS)
        values: dict[str, object] = {
            "bucket": settings.env(settings.BUCKET, resources.BUCKET),
            "sink": SinkConfig.from_env(),
            "dlq_url": settings.env(settings.DLQ_URL),
            "errors_prefix": settings.env(settings.ERRORS_PREFIX, resources.ERRORS_PREFIX),
            "idempotency_table": None if (table or "").lower() in DISABLED else table,
            "idempotency_ttl_seconds": settings.env_int(
                settings.IDEMPOTENCY_TTL_SECONDS, DEFAULT_IDEMPOTENCY_TTL_SECONDS
            ),
            "idempotency_in_progress_expiry_seconds": (
                settings.env_float(settings.IDEMPOTENCY_IN_PROGRESS_EXPIRY_SECONDS, 0.0)
                if expiry
                else None
            ),
            "idempotency_mode": mode_from_env(),
            "attempts_table": settings.env(settings.ATTEMPTS_TABLE, resources.ATTEMPTS_TABLE),
            "max_attempts": settings.env_int(settings.MAX_ATTEMPTS, DEFAULT_MAX_ATTEMPTS),
            "attempts_ttl_seconds": settings.env_int(
                settings.ATTEMPTS_TTL_SECONDS, DEFAULT_ATTEMPTS_TTL_SECONDS
            ),
            "function_name": settings.env(settings.LAMBDA_FUNCTION_NAME, resources.LAMBDA_FUNCTION),
            "processor": settings.env(settings.PROCESSOR),
            "metrics_namespace": settings.env(
                settings.METRICS_NAMESPACE, DEFAULT_METRICS_NAMESPACE
            ),
            "service": settings.env(settings.POWERTOOLS_SERVICE_NAME, DEFAULT_SERVICE),
            "tracing": settings.env_bool(settings.TRACING, False),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
