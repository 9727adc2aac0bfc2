"""Shared by the Lambda handler's integration tests: a processing function that fails as
told, the handler's failed sequence numbers, and the idempotency-mode parametrisation."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from consumers.idempotency import MODES

#: The test runs under both idempotency modes: ``handler_env``'s consumers use ``batch``
#: (the default) or ``event`` (powertools per event).
both_idempotency_modes = pytest.mark.parametrize("handler_env", MODES, indirect=True)


class Flaky:
    """Processing that fails on chosen event ids a number of times, and counts runs."""

    def __init__(self, fail: dict[str, int] | None = None) -> None:
        self.fail = dict(fail or {})
        self.runs: Counter[str] = Counter()

    def __call__(self, event: Any) -> None:
        self.runs[event.id] += 1
        if self.fail.get(event.id, 0) > 0:
            self.fail[event.id] -= 1
            raise RuntimeError(f"cannot process {event.id}")


def failed_seqs(response: dict[str, Any]) -> list[str]:
    """The sequence numbers a partial batch response reports failed."""
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def seqs(event: dict[str, Any]) -> list[str]:
    """The sequence numbers of a Kinesis event's records."""
    return [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
