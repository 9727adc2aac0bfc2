"""What an invocation's result means to the event source mapping (pure code).

With ``ReportBatchItemFailures`` Lambda reads ``{"batchItemFailures": [{"itemIdentifier":
"<sequence number>"}, ...]}``: an empty or missing list (or no response at all) is a complete
success; a list of sequence numbers of the batch checkpoints before the lowest one and retries
from it; an empty, null or misnamed ``itemIdentifier`` makes the whole batch a failure. Without
``ReportBatchItemFailures`` only an error fails the batch.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shardflow_tools.lambda_esm.events import StreamRecord


class Outcome(enum.Enum):
    """How a batch fared."""

    SUCCESS = "success"
    #: Some records failed: everything before the first of them succeeded.
    PARTIAL = "partial"
    #: The function raised, timed out or answered with a malformed failure list.
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class InvocationResult:
    """An invocation's outcome; ``first_failed`` indexes the batch for PARTIAL."""

    outcome: Outcome
    first_failed: int | None = None
    #: Why the batch failed (exception, timeout, malformed response), for logs and OnFailure.
    error: str | None = None
    #: True when the function itself raised or timed out (Lambda's ``functionError``).
    function_error: bool = False

    @classmethod
    def success(cls) -> InvocationResult:
        """The whole batch succeeded."""
        return cls(Outcome.SUCCESS)

    @classmethod
    def failed(cls, error: str, *, function_error: bool = True) -> InvocationResult:
        """The whole batch failed."""
        return cls(Outcome.ERROR, error=error, function_error=function_error)


def interpret(
    response: Any,
    batch: Sequence[StreamRecord],
    *,
    report_batch_item_failures: bool,
) -> InvocationResult:
    """The outcome of an invocation that returned ``response`` (it did not raise)."""
    if not report_batch_item_failures or response is None:
        return InvocationResult.success()
    if not isinstance(response, Mapping):
        return InvocationResult.failed(
            f"response is a {type(response).__name__}, not an object", function_error=False
        )
    failures = response.get("batchItemFailures")
    if failures is None or failures == []:
        return InvocationResult.success()
    problem, first = _first_failed(failures, batch)
    if problem is not None:
        return InvocationResult.failed(problem, function_error=False)
    return InvocationResult(Outcome.PARTIAL, first_failed=first, error="batch item failures")


def _first_failed(failures: Any, batch: Sequence[StreamRecord]) -> tuple[str | None, int]:
    """(what is wrong with the list, or None; index of the lowest failed record)."""
    if not isinstance(failures, list):
        return "batchItemFailures is not a list", 0
    index = {r.sequence_number: i for i, r in enumerate(batch)}
    first = len(batch)
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, Mapping) else None
        if not isinstance(ident, str) or not ident:
            return f"batchItemFailures item {item!r} has no itemIdentifier", 0
        pos = index.get(ident)
        if pos is None:
            return f"itemIdentifier {ident} is not a sequence number of the batch", 0
        first = min(first, pos)
    return None, first
