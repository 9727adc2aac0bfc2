"""Batch idempotency in the Lambda consumer (``SHARDFLOW_IDEMPOTENCY=batch``, the default).

:class:`BatchIdempotency` holds the execution environment's
:class:`~consumers.idempotency.BatchIdempotencyStore` (powertools' table and item layout, so
``SHARDFLOW_IDEMPOTENCY=event`` reads the same records). Per invocation,
:meth:`BatchIdempotency.begin` locks the ids of the events the invocation will process (in
shard order; one ``TransactWriteItems`` per 100) and returns an
:class:`InvocationIdempotency`, the :class:`~consumers.lambda_handler.idempotency.EventIdempotency`
of that invocation:

* an id completed before is not processed: its stored result is returned (None, or the
  envelope the processing returned), so the event is still written at its position, as
  powertools' per-event path does on an idempotency hit; a dead-lettered id returns
  :data:`~consumers.lambda_handler.idempotency.DEAD_LETTERED` (skipped);
* an id held by another execution, or that the table could not lock, raises
  (:class:`~consumers.idempotency.IdempotencyHeldError`,
  :class:`~consumers.idempotency.IdempotencyStoreError`): a failure that is not the event's
  (``is_store_error``), so its record (and the rest of its shard) fails without counting an
  attempt;
* an acquired id is processed at most once per invocation; a dead letter is recorded
  (``mark_dead_lettered``) when the pipeline sends the event to the dead-letter queue.

:meth:`InvocationIdempotency.finish` (before the S3 write and the response) completes the
processed ids in ``BatchWriteItem`` calls, also those of records that then failed (their
retry writes the stored result instead of processing again), and releases the acquired ids
that were not processed (failed, or never reached after a shard's first failure), so a
retry locks them at once. A crash between lock and completion leaves the locks until their
in-progress expiry, after which the next invocation takes them over.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from consumers.failure_policy import FailurePolicy, Verdict
from consumers.idempotency import (
    BatchIdempotencyConfig,
    BatchIdempotencyStore,
    BatchLocks,
    IdempotencyHeldError,
    IdempotencyStoreError,
)
from consumers.lambda_handler.clients import Clients
from consumers.lambda_handler.idempotency import DEAD_LETTERED
from consumers.records import Event, Origin


class InvocationIdempotency:
    """One invocation's locks and outcomes (an ``EventIdempotency`` for the invocation)."""

    def __init__(
        self,
        store: BatchIdempotencyStore,
        locks: BatchLocks,
        process: Callable[[Event], Any],
        *,
        logger: Any,
    ) -> None:
        self._store = store
        self.locks = locks
        self._process = process
        self._log = logger
        self._done: dict[str, object] = {}
        self._tried: set[str] = set()
        self._dead: set[str] = set()

    def register_context(self, context: Any) -> None:
        """Nothing to do: the locks' expiry was set from the context by ``begin``."""

    def run(self, event: Event) -> object:
        """The processing's result for ``event``: stored (completed before, or by an earlier
        event of this invocation with the same id), or run now if this invocation locked
        the id; raises when the id is not to be processed now."""
        event_id = event.id
        if event_id in self._done:
            return self._done[event_id]
        if event_id in self._dead:
            return DEAD_LETTERED
        locks = self.locks
        if event_id in locks.completed:
            return DEAD_LETTERED if event_id in locks.dead_lettered else locks.results.get(event_id)
        if event_id in locks.unavailable:
            raise IdempotencyStoreError(
                f"cannot lock event {event_id!r} in {self._store.table}",
                ids=[event_id],
                error_code=locks.error_code,
            )
        if not locks.should_process(event_id) or event_id in self._tried:
            # Held elsewhere, or an earlier event with this id failed in this invocation.
            raise IdempotencyHeldError(event_id)
        self._tried.add(event_id)
        result = self._process(event)
        self._done[event_id] = result
        return result

    def mark_dead_lettered(self, event: Event) -> None:
        """Record ``event.id`` as done by the dead-letter queue (now, before the invocation
        reports its record successful)."""
        self._store.mark_dead_lettered([event.id])
        self._dead.add(event.id)

    @staticmethod
    def is_store_error(exc: BaseException) -> bool:
        """True when ``exc`` is the idempotency's failure, not the event's."""
        return BatchIdempotency.is_store_error(exc)

    def finish(self) -> None:
        """Complete the processed ids, release the acquired ones not processed.

        A completion that fails after the store's retries is logged, not raised: the events
        were processed and their output is written, so failing their records would only
        process them again once the locks expire (the locks stay until then)."""
        done = self._done
        if done:
            try:
                self._store.complete(list(done), done)
            except IdempotencyStoreError as exc:
                self._log.error(
                    "idempotency records not completed; their locks stay until they expire",
                    extra={"event_ids": list(exc.ids)[:20], "error": str(exc)},
                )
        unused = [i for i in self.locks.acquired if i not in done and i not in self._dead]
        if unused:
            try:
                self._store.release(unused)
            except IdempotencyStoreError as exc:
                self._log.warning(
                    "idempotency locks not released; they expire at their in-progress expiry",
                    extra={"event_ids": list(exc.ids)[:20], "error": str(exc)},
                )


class InvocationPolicy:
    """The consumer's failure policy, with the invocation's dead letters recorded in its
    idempotency records (before the policy's own bookkeeping)."""

    def __init__(self, policy: FailurePolicy, idempotency: InvocationIdempotency) -> None:
        self._policy = policy
        self._idempotency = idempotency

    def dead_lettered_before(self, origin: Origin) -> bool:
        """The consumer's policy's answer."""
        return self._policy.dead_lettered_before(origin)

    def failed(self, event: Event, error: Exception) -> Verdict:
        """The consumer's policy's verdict (or its raise)."""
        return self._policy.failed(event, error)

    def dead_lettered(self, event: Event, *, sent: bool) -> None:
        """Mark ``event.id`` dead-lettered when sent now, then tell the consumer's policy."""
        if sent:
            self._idempotency.mark_dead_lettered(event)
        self._policy.dead_lettered(event, sent=sent)


class BatchIdempotency:
    """The execution environment's batch idempotency store around ``process`` (the user's
    handler, its result checked and stored as JSON). Thread-safe: each invocation gets its
    own :class:`InvocationIdempotency`.

    ``store`` replaces the store built on first use from ``clients.dynamodb`` (tests: a
    store with its own retry settings or clock).
    """

    def __init__(
        self,
        table: str,
        process: Callable[[Event], Any],
        *,
        clients: Clients,
        function_name: str,
        ttl_seconds: int,
        in_progress_expiry_seconds: float | None = None,
        logger: Any,
        store: BatchIdempotencyStore | None = None,
    ) -> None:
        self._table = table
        self._process = process
        self._clients = clients
        self._function_name = function_name
        self._config = BatchIdempotencyConfig(
            ttl_seconds=ttl_seconds, in_progress_expiry_seconds=in_progress_expiry_seconds
        )
        self._log = logger
        self._store = store
        self._lock = threading.Lock()

    @property
    def store(self) -> BatchIdempotencyStore:
        """The store (built on first use: it needs the DynamoDB client)."""
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = BatchIdempotencyStore(
                        self._table,
                        dynamodb_client=self._clients.dynamodb,
                        key_prefix=self._function_name,
                        config=self._config,
                    )
        return self._store

    def begin(self, events: Sequence[Event], context: Any) -> InvocationIdempotency:
        """Lock the ids of ``events`` (the invocation's, in shard order); the locks expire
        after the invocation's remaining time unless a fixed expiry is configured."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        store = self.store
        locks = store.begin(
            [e.id for e in events], remaining_time_ms=None if remaining is None else remaining()
        )
        if locks.retry:
            self._log.warning(
                "events not locked: their records are retried",
                extra={
                    "held": len(locks.held),
                    "unavailable": len(locks.unavailable),
                    "error_code": locks.error_code,
                },
            )
        return InvocationIdempotency(store, locks, self._process, logger=self._log)

    @staticmethod
    def is_store_error(exc: BaseException) -> bool:
        """True when ``exc`` is the store's failure or a lock held elsewhere."""
        return isinstance(exc, (IdempotencyStoreError, IdempotencyHeldError))
