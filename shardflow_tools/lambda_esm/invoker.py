"""Calling the handler the way Lambda does, and counting what happened."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from shardflow_tools.lambda_esm.context import LocalContext
from shardflow_tools.lambda_esm.events import StreamRecord, build_event
from shardflow_tools.lambda_esm.outcome import InvocationResult, interpret

logger = logging.getLogger(__name__)

#: A Lambda handler: ``handler(event, context) -> response``.
Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class RunStats:
    """Counters of a runner (all shards); read them through :meth:`Stats.snapshot`."""

    invocations: int = 0
    #: Invocations that raised, timed out or returned a malformed response.
    failed_invocations: int = 0
    #: Invocations that reported batch item failures.
    partial_failures: int = 0
    #: Records passed to the handler, retries included.
    records_delivered: int = 0
    #: Records done for good (succeeded, or skipped as completed before a restart).
    records_completed: int = 0
    #: Records discarded (retries exhausted or too old) and reported to OnFailure.
    records_discarded: int = 0
    checkpoints_written: int = 0
    shards_ended: int = 0
    invoke_seconds: float = 0.0


class Stats:
    """Thread-safe :class:`RunStats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = RunStats()

    def add(self, **deltas: float) -> None:
        """Add to counters by name."""
        with self._lock:
            for name, delta in deltas.items():
                setattr(self._stats, name, getattr(self._stats, name) + delta)

    def snapshot(self) -> RunStats:
        """A copy of the counters."""
        with self._lock:
            return RunStats(**{f.name: getattr(self._stats, f.name) for f in fields(RunStats)})


class Invoker:
    """Invokes a handler with a batch and interprets the result."""

    def __init__(
        self,
        handler: Handler,
        *,
        function_name: str,
        function_arn: str,
        timeout_seconds: float,
        report_batch_item_failures: bool,
        stats: Stats,
    ) -> None:
        self._handler = handler
        self._function_name = function_name
        self._function_arn = function_arn
        self._timeout = timeout_seconds
        self._report = report_batch_item_failures
        self._stats = stats

    def invoke(self, batch: Sequence[StreamRecord]) -> InvocationResult:
        """One synchronous invocation with ``batch``; never raises for the handler's errors."""
        event = build_event(batch)
        context = LocalContext(
            function_name=self._function_name,
            function_arn=self._function_arn,
            timeout_seconds=self._timeout,
        )
        started = time.monotonic()
        try:
            response = self._handler(event, context)
        except Exception as exc:  # any handler error is a function error, as on Lambda
            elapsed = time.monotonic() - started
            logger.warning(
                "invocation %s of %d records from %s failed: %s: %s",
                context.aws_request_id,
                len(batch),
                batch[0].shard_id,
                type(exc).__name__,
                exc,
            )
            result = InvocationResult.failed(f"{type(exc).__name__}: {exc}")
        else:
            elapsed = time.monotonic() - started
            if elapsed > self._timeout:
                # Lambda would have stopped the function; its result does not count.
                result = InvocationResult.failed(
                    f"Task timed out after {self._timeout:.2f} seconds"
                )
            else:
                result = interpret(response, batch, report_batch_item_failures=self._report)
        self._stats.add(
            invocations=1,
            records_delivered=len(batch),
            invoke_seconds=elapsed,
            failed_invocations=1 if result.outcome.value == "error" else 0,
            partial_failures=1 if result.outcome.value == "partial" else 0,
        )
        return result
