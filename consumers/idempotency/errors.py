"""The batch idempotency store's errors."""

from __future__ import annotations

from collections.abc import Iterable

from consumers.errors import ConsumerError


class IdempotencyStoreError(ConsumerError):
    """The idempotency table could not record the outcome of some events.

    ``ids`` are the event ids whose records were not written (completion) or not deleted
    (release); ``error_code`` the last AWS error code seen, when there was one.
    """

    def __init__(self, message: str, *, ids: Iterable[str], error_code: str | None = None) -> None:
        self.ids = tuple(ids)
        super().__init__(f"{message}: {len(self.ids)} event id(s)", error_code=error_code)


class IdempotencyHeldError(ConsumerError):
    """Another execution holds a live lock on the event's id: it must not be processed now.

    Not the event's fault: its record is failed and retried without counting an attempt.
    """

    def __init__(self, event_id: str) -> None:
        self.event_id = event_id
        super().__init__(
            f"event {event_id!r} not processed: another execution holds its idempotency lock"
        )
