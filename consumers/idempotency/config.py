"""Settings of the batch idempotency store, and which idempotency a consumer uses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from shardflow import settings
from shardflow.errors import ConfigError

#: ``batch``: :class:`~consumers.idempotency.BatchIdempotencyStore` (a few DynamoDB calls
#: per 100 events); ``event``: powertools' ``idempotent_function`` per event (two writes
#: per event). Both use the same table and item layout.
Mode = Literal["batch", "event"]
MODES: Final[tuple[Mode, ...]] = ("batch", "event")
#: Recommended: the same guarantees at a fraction of the calls (docs/idempotency.md).
DEFAULT_MODE: Final[Mode] = "batch"

DEFAULT_TTL_SECONDS: Final = 3600
#: In-progress expiry when the caller gives no remaining time: Lambda's longest timeout.
DEFAULT_IN_PROGRESS_EXPIRY_SECONDS: Final = 900.0
#: DynamoDB's limits per call.
MAX_TRANSACT_ITEMS: Final = 100
MAX_BATCH_GET_KEYS: Final = 100
MAX_BATCH_WRITE_ITEMS: Final = 25


def mode_from_env(environ: Mapping[str, str] | None = None) -> Mode:
    """``SHARDFLOW_IDEMPOTENCY`` (``batch`` or ``event``; default :data:`DEFAULT_MODE`)."""
    value = settings.env(settings.IDEMPOTENCY, DEFAULT_MODE, environ=environ)
    assert value is not None
    lowered = value.strip().lower()
    for mode in MODES:
        if lowered == mode:
            return mode
    raise ConfigError(settings.IDEMPOTENCY, f"expected one of {', '.join(MODES)}, got {value!r}")


@dataclass(frozen=True, slots=True)
class BatchIdempotencyConfig:
    """How the store writes records and retries DynamoDB.

    * ``ttl_seconds``: life of a record (completed or in progress) from its write; a
      completed id is skipped until then (powertools' ``expires_after_seconds``).
    * ``in_progress_expiry_seconds``: how long a lock blocks other executions when
      :meth:`~consumers.idempotency.BatchIdempotencyStore.begin` is given no remaining time
      (None: :data:`DEFAULT_IN_PROGRESS_EXPIRY_SECONDS`); a fixed value wins over the
      remaining time, as in :mod:`consumers.lambda_handler.idempotency`.
    * ``attempts``: calls per request before its ids are given up on (throttling, 5xx,
      ``TransactionConflict``, unprocessed keys or items); ``base_delay_seconds`` /
      ``max_delay_seconds``: exponential backoff with full jitter between them.
    * ``lookup_first``: read the batch's records (``BatchGetItem``) before locking; off,
      the lock is tried first and only the ids whose condition failed are read (from the
      cancellation reasons, which carry the old item) — fewer calls when most ids are new.
    * ``write_workers``: ``BatchWriteItem`` calls (completions, releases) in flight at once
      (threads); 1 writes them one after the other.
    """

    ttl_seconds: int = DEFAULT_TTL_SECONDS
    in_progress_expiry_seconds: float | None = None
    attempts: int = 6
    base_delay_seconds: float = 0.05
    max_delay_seconds: float = 2.0
    lookup_first: bool = False
    write_workers: int = 4

    def __post_init__(self) -> None:
        if self.ttl_seconds < 1:
            raise ConfigError("ttl_seconds", f"must be >= 1, got {self.ttl_seconds}")
        expiry = self.in_progress_expiry_seconds
        if expiry is not None and expiry <= 0:
            raise ConfigError("in_progress_expiry_seconds", f"must be > 0, got {expiry}")
        if self.attempts < 1:
            raise ConfigError("attempts", f"must be >= 1, got {self.attempts}")
        if self.write_workers < 1:
            raise ConfigError("write_workers", f"must be >= 1, got {self.write_workers}")
        if self.base_delay_seconds < 0:
            raise ConfigError("base_delay_seconds", f"must be >= 0, got {self.base_delay_seconds}")
        if self.max_delay_seconds < self.base_delay_seconds:
            raise ConfigError(
                "max_delay_seconds",
                f"must be >= base_delay_seconds ({self.base_delay_seconds}), "
                f"got {self.max_delay_seconds}",
            )

    def delay(self, attempt: int, rand: float) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based); ``rand`` in [0, 1)."""
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * 2.0 ** (attempt - 1))
        return float(rand * ceiling)
