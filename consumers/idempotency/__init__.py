"""Batch idempotency for a consumer's processing function, in powertools' table layout.

Runtime-neutral (boto3 only, no powertools): the Lambda consumer and the KCL consumer can
both use it. :class:`BatchIdempotencyStore` locks a batch's event ids in one
``TransactWriteItems`` per 100, skips completed and dead-lettered ones, completes and
releases in ``BatchWriteItem`` calls of 25; :class:`BatchLocks` says which ids to process,
skip or retry. ``SHARDFLOW_IDEMPOTENCY`` (:func:`mode_from_env`) picks ``batch`` or
powertools' per-event ``event``. Semantics: docs/idempotency.md.
"""

from consumers.idempotency.config import (
    DEFAULT_MODE,
    MODES,
    BatchIdempotencyConfig,
    Mode,
    mode_from_env,
)
from consumers.idempotency.errors import IdempotencyHeldError, IdempotencyStoreError
from consumers.idempotency.layout import (
    DEAD_LETTERED_RESULT,
    RecordLayout,
    RecordState,
    idempotency_key,
)
from consumers.idempotency.locks import BatchLocks
from consumers.idempotency.store import BatchIdempotencyStore

__all__ = [
    "DEAD_LETTERED_RESULT",
    "DEFAULT_MODE",
    "MODES",
    "BatchIdempotencyConfig",
    "BatchIdempotencyStore",
    "BatchLocks",
    "IdempotencyHeldError",
    "IdempotencyStoreError",
    "Mode",
    "RecordLayout",
    "RecordState",
    "idempotency_key",
    "mode_from_env",
]
