"""The Lambda consumer: ``consumers.lambda_handler.handler`` is the function's entry point.

Configured by ``SHARDFLOW_*`` environment variables (:class:`HandlerConfig`; see the
README), built on the first invocation and reused by the later ones of the execution
environment. To add your own per-event handler (the consumers' one handler contract,
:mod:`consumers.handler`: return None to write the event, a mapping to write that envelope
instead, raise to fail and retry it), build a :class:`LambdaConsumer` in your module and
point the function's handler at it::

    from consumers.lambda_handler import LambdaConsumer

    def process(event):          # consumers.Event
        notify(event.envelope["data"])

    handler = LambdaConsumer(handler=process)    # or its older name: process=process

Only what a handler needs is imported here (powertools' batch, logger, metrics and
idempotency, the consumer core); the local runner lives apart in ``shardflow_tools.lambda_esm``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

_INIT_STARTED = time.perf_counter()

from consumers.lambda_handler.attempts import AttemptStore  # noqa: E402
from consumers.lambda_handler.clients import Clients  # noqa: E402
from consumers.lambda_handler.config import HandlerConfig  # noqa: E402
from consumers.lambda_handler.consumer import LambdaConsumer, ProcessFn  # noqa: E402
from consumers.lambda_handler.errors import (  # noqa: E402
    AttemptStoreError,
    EventProcessingError,
    LambdaHandlerError,
    ShardCircuitBreakerError,
)
from consumers.lambda_handler.observability import Observability  # noqa: E402
from consumers.lambda_handler.processor import ShardOrderedBatchProcessor  # noqa: E402

#: Seconds this package took to import (the handler's share of the cold start).
IMPORT_SECONDS = time.perf_counter() - _INIT_STARTED

_default: LambdaConsumer | None = None
_default_lock = threading.Lock()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point: the default :class:`LambdaConsumer`, built on first use."""
    global _default  # noqa: PLW0603 - one consumer per execution environment
    consumer = _default
    if consumer is None:
        with _default_lock:
            if _default is None:
                started = time.perf_counter()
                _default = LambdaConsumer()
                _default.obs.logger.info(
                    "cold start",
                    extra={
                        "import_ms": round(IMPORT_SECONDS * 1000, 1),
                        "build_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )
            consumer = _default
    return consumer(event, context)


def reset() -> None:
    """Forget the default consumer (tests; a new configuration from the environment)."""
    global _default  # noqa: PLW0603
    with _default_lock:
        _default = None


__all__ = [
    "IMPORT_SECONDS",
    "AttemptStore",
    "AttemptStoreError",
    "Clients",
    "EventProcessingError",
    "HandlerConfig",
    "LambdaConsumer",
    "LambdaHandlerError",
    "Observability",
    "ProcessFn",
    "ShardCircuitBreakerError",
    "ShardOrderedBatchProcessor",
    "handler",
    "reset",
]
