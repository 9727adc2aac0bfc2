"""What an event whose handler failed gets: the dead-letter queue at once, or a retry.

The pipeline (:mod:`consumers.pipeline`) asks its runtime's :class:`FailurePolicy` when the
user's handler raised (or returned what cannot be written) for an event:

* :class:`DeadLetterAtOnce` (the KCL's default): the event goes to the dead-letter queue
  with reason ``handler_failed`` and the shard moves on.
* :class:`RetryThenDeadLetter` (the Lambda handler's default, ``SHARDFLOW_MAX_ATTEMPTS``):
  the failure is counted per event position in a store that outlives the invocation (the
  attempts table); below ``max_attempts`` the policy raises
  :class:`~consumers.errors.EventProcessingError`, so the runtime retries the event (Lambda:
  its record and the rest of its shard are reported as failed); at ``max_attempts`` it is
  dead-lettered. A failure that is not the event's fault (``is_transient``: the idempotency
  store failed, another invocation holds the event) is re-raised without being counted, so
  an outage never dead-letters an event. What was dead-lettered is remembered (in the
  store and in memory), so a retry of its record neither calls the handler for it again
  nor sends it twice.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final, Protocol

from consumers.errors import EventProcessingError
from consumers.records import Event, Origin

#: Dead-lettered events an execution environment remembers (to skip on a record retry).
RECENT_DEAD_LETTERS: Final = 10_000


class Verdict(enum.Enum):
    """What the pipeline does with a failed event (a policy raises to retry it instead)."""

    #: Send it to the dead-letter queue now (``reason: handler_failed``) and move on.
    DEAD_LETTER = "dead_letter"
    #: It is in the dead-letter queue already (an earlier run sent it): move on.
    SKIP = "skip"


class FailurePolicy(Protocol):
    """Decides what a failing event gets; see the module docstring."""

    def dead_lettered_before(self, origin: Origin) -> bool:
        """True when the event at ``origin`` is known to be in the dead-letter queue already
        (the pipeline then skips it without calling the handler)."""

    def failed(self, event: Event, error: Exception) -> Verdict:
        """The handler failed on ``event`` with ``error``: the verdict, or raise so that the
        runtime retries the event (and does not move past it)."""

    def dead_lettered(self, event: Event, *, sent: bool) -> None:
        """``event`` is in the dead-letter queue: the pipeline ``sent`` it there now, or
        found it there (a :data:`Verdict.SKIP`, or the handler step said so)."""


def _event_keys(event: Event, **extra: Any) -> dict[str, Any]:
    origin = event.origin
    return {
        "event_id": event.id,
        "event_type": event.type,
        "shard_id": origin.shard_id,
        "sequence_number": origin.sequence_number,
        "sub_sequence_number": origin.sub_sequence_number,
        "partition_key": origin.partition_key,
        **extra,
    }


class DeadLetterAtOnce:
    """Every failure dead-letters its event at once (nothing to remember: no retries)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger(__name__)

    def dead_lettered_before(self, origin: Origin) -> bool:  # noqa: ARG002 - the protocol's
        """Never: a failed event is never retried, so never met again."""
        return False

    def failed(self, event: Event, error: Exception) -> Verdict:
        """:data:`Verdict.DEAD_LETTER`, logged."""
        self._logger.warning(
            "shard %s: handler failed on %s (%s): dead-lettering",
            event.origin.shard_id,
            event.origin.position,
            error,
        )
        return Verdict.DEAD_LETTER

    def dead_lettered(self, event: Event, *, sent: bool) -> None:
        """Nothing to remember."""


class AttemptsSoFar(Protocol):
    """An event's failures so far (:class:`consumers.lambda_handler.attempts.Attempts`)."""

    @property
    def failures(self) -> int:
        """Failures counted, this one included."""

    @property
    def dead_lettered(self) -> bool:
        """True when the event was dead-lettered already."""


class AttemptCounter(Protocol):
    """Failures per event position, durable beyond the invocation (the attempts table)."""

    def record_failure(self, origin: Origin) -> AttemptsSoFar:
        """Count one more failure of the event at ``origin``; the state so far."""

    def mark_dead_lettered(self, origin: Origin) -> None:
        """Remember that the event at ``origin`` went to the dead-letter queue."""


def _origin_key(origin: Origin) -> tuple[str, str, str, int | None]:
    return origin.stream, origin.shard_id, origin.sequence_number, origin.sub_sequence_number


def _never(_exc: BaseException) -> bool:
    return False


class RetryThenDeadLetter:
    """Retry a failing event until it has failed ``max_attempts`` times, then dead-letter it.

    ``attempts`` gives the counter (called on the first failure: the store is built
    lazily); ``is_transient`` tells failures that are not the event's fault (not counted,
    re-raised); ``on_dead_lettered`` also records a dead letter elsewhere (the event's
    idempotency record). ``logger`` may be a powertools Logger (keys go in ``extra``).
    Thread-safe: one policy serves concurrent invocations.
    """

    def __init__(
        self,
        attempts: Callable[[], AttemptCounter],
        *,
        max_attempts: int,
        is_transient: Callable[[BaseException], bool] = _never,
        on_dead_lettered: Callable[[Event], None] | None = None,
        logger: Any = None,
        remember: int = RECENT_DEAD_LETTERS,
    ) -> None:
        self._attempts = attempts
        self.max_attempts = max_attempts
        self._is_transient = is_transient
        self._on_dead_lettered = on_dead_lettered
        self._logger = logger or logging.getLogger(__name__)
        self._remember = remember
        self._lock = threading.Lock()
        self._recent: OrderedDict[tuple[str, str, str, int | None], None] = OrderedDict()

    def dead_lettered_before(self, origin: Origin) -> bool:
        """True when this process dead-lettered (or found dead-lettered) the event."""
        recent = self._recent
        return bool(recent) and _origin_key(origin) in recent

    def failed(self, event: Event, error: Exception) -> Verdict:
        """Count the failure; raise to retry, or the verdict once it is final."""
        if self._is_transient(error):
            raise error
        attempts = self._attempts().record_failure(event.origin)
        if attempts.dead_lettered:
            # Dead-lettered by an earlier invocation; its record is retried for a later
            # event. Not sent again.
            return Verdict.SKIP
        max_attempts = self.max_attempts
        keys = _event_keys(
            event,
            attempt=attempts.failures,
            max_attempts=max_attempts,
            error=f"{type(error).__name__}: {error}",
        )
        if attempts.failures < max_attempts:
            self._logger.warning("event failed; its shard is retried from it", extra=keys)
            origin = event.origin
            raise EventProcessingError(
                f"processing failed: {type(error).__name__}: {error}",
                event_id=event.id,
                attempt=attempts.failures,
                max_attempts=max_attempts,
                stream=origin.stream,
                shard_id=origin.shard_id,
                sequence_number=origin.sequence_number,
            ) from error
        self._logger.error(
            "event failed for the last time; dead-lettering it", extra=keys, exc_info=error
        )
        return Verdict.DEAD_LETTER

    def dead_lettered(self, event: Event, *, sent: bool) -> None:
        """Remember it in memory; when ``sent`` now, in the attempts store and through
        ``on_dead_lettered`` too, so that no later invocation sends or processes it."""
        if sent:
            self._attempts().mark_dead_lettered(event.origin)
            if self._on_dead_lettered is not None:
                self._on_dead_lettered(event)
        with self._lock:
            self._recent[_origin_key(event.origin)] = None
            while len(self._recent) > self._remember:
                self._recent.popitem(last=False)
