"""What :meth:`BatchIdempotencyStore.begin` found: the ids to process, skip or retry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class BatchLocks:
    """The outcome of locking a batch's event ids; every id given is in exactly one set.

    * ``acquired``: locked by this call (``INPROGRESS``), in the order given: process them,
      then :meth:`~BatchIdempotencyStore.complete` (or :meth:`~BatchIdempotencyStore.release`
      those that failed or were not reached).
    * ``completed``: processed before, the record alive: skip them (``dead_lettered`` are
      the completed ids that went to the dead-letter queue instead).
    * ``held``: locked by another execution whose in-progress expiry has not passed: do not
      process; fail their records so that they are retried.
    * ``unavailable``: the table could not be asked or could not lock them (throttled past
      the retries, a 5xx, no answer): not locked, so not to be processed; fail and retry.
    * ``results``: the stored result of each id in ``completed`` but not ``dead_lettered``
      (the JSON in its record's ``data``: None, or what the processing returned), for a
      caller that writes it again instead of processing (as powertools returns it).
    * ``in_progress_expiry_ms``: Unix milliseconds before which none of the acquired locks
      expires (a holder still processing after it may be overtaken).
    * ``error_code``: the last AWS error code behind ``unavailable`` (None when none).
    """

    acquired: tuple[str, ...]
    completed: frozenset[str]
    dead_lettered: frozenset[str]
    held: frozenset[str]
    unavailable: frozenset[str]
    in_progress_expiry_ms: int
    error_code: str | None = None
    results: Mapping[str, object] = field(default_factory=dict)
    _acquired: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_acquired", frozenset(self.acquired))

    @property
    def retry(self) -> frozenset[str]:
        """The ids not to process now and to fail (retried later): held or unavailable."""
        return self.held | self.unavailable

    def should_process(self, event_id: str) -> bool:
        """True when this execution locked ``event_id`` and is to process it."""
        return event_id in self._acquired
