"""Idempotency per batch: lock, skip and complete a batch's event ids in a few DynamoDB calls.

powertools' per-event idempotency makes two writes per event (a conditional put to lock,
an update to complete). :class:`BatchIdempotencyStore` keeps its records and guarantees
(same table, same item layout: :mod:`consumers.idempotency.layout`) and does a batch's
ids at once:

1. **lock**: one ``TransactWriteItems`` per 100 ids, each a ``Put`` of an ``INPROGRESS``
   record under powertools' condition (no live record, or a crashed holder's expired
   lock). A transaction is all or nothing: when some ids' condition fails, DynamoDB
   cancels it and says which (``CancellationReasons``, with the old item, asked for by
   ``ReturnValuesOnConditionCheckFailure``). Those ids are sorted out (completed,
   dead-lettered, held by another execution) and the others locked again in a new
   transaction. With ``lookup_first`` the records are read first (``BatchGetItem``, 100
   keys per call) and only the free ids are locked.
2. **complete**: the processed ids' ``COMPLETED`` records in ``BatchWriteItem`` calls of 25.
3. **release**: the locks of ids whose processing failed (or was not reached) deleted in
   ``BatchWriteItem`` calls of 25, so a retry locks them again at once.

Throttling, 5xx, ``TransactionConflict`` and unprocessed keys or items are retried with
exponential backoff and jitter (:class:`~consumers.idempotency.config.BatchIdempotencyConfig`);
ids still not locked after the last attempt are ``unavailable``: never processed without a
lock, their records are failed and retried by the event source.

How a pipeline uses it (one invocation or KCL batch)::

    store = BatchIdempotencyStore(table, dynamodb_client=ddb, key_prefix=function_name)
    locks = store.begin([e.id for e in events],
                        remaining_time_ms=context.get_remaining_time_in_millis())
    done, failed = [], []
    for event in events:
        if event.id in locks.completed:       # incl. locks.dead_lettered: skip
            continue
        if not locks.should_process(event.id):  # held elsewhere, or the table failed
            failed.append(event)                # fail its record (not an attempt)
            continue
        try:
            process(event)
            done.append(event.id)
        except Exception:
            failed.append(event)                # counts as an attempt, as today
    store.complete(done)                        # before reporting success
    store.release([e.id for e in failed if locks.should_process(e.id)])
    store.mark_dead_lettered(ids_sent_to_the_dlq)

With a stop-at-first-failure processor, the acquired ids after the failure were never
processed: release them too. Duplicate ids in one batch are locked once: process the
first event carrying the id, and treat the later ones as completed once it succeeded.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from botocore.exceptions import BotoCoreError, ClientError

from consumers.idempotency import layout
from consumers.idempotency.config import (
    DEFAULT_IN_PROGRESS_EXPIRY_SECONDS,
    MAX_BATCH_GET_KEYS,
    MAX_BATCH_WRITE_ITEMS,
    MAX_TRANSACT_ITEMS,
    BatchIdempotencyConfig,
)
from consumers.idempotency.errors import IdempotencyStoreError
from consumers.idempotency.layout import RecordLayout, RecordState
from consumers.idempotency.locks import BatchLocks
from shardflow import aws

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef, WriteRequestTypeDef

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

#: Error codes worth another call (the request was not applied, or may be next time).
RETRYABLE_CODES: Final = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
        "TransactionConflictException",
        # Cancellation reasons of a transaction.
        "ThrottlingError",
        "TransactionConflict",
        "ProvisionedThroughputExceeded",
    }
)
_CANCELLED: Final = "TransactionCanceledException"
_CONDITION_FAILED: Final = "ConditionalCheckFailed"

_T = TypeVar("_T")


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _retryable(exc: ClientError | BotoCoreError) -> bool:
    """True for a failure another call may not meet: no answer (BotoCoreError), a code in
    :data:`RETRYABLE_CODES`, or any 5xx."""
    if not isinstance(exc, ClientError):
        return True
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return aws.error_code(exc) in RETRYABLE_CODES or status >= 500


class _Outcome:
    """Mutable tally of one :meth:`BatchIdempotencyStore.begin` call."""

    def __init__(self) -> None:
        self.acquired: list[str] = []
        self.completed: set[str] = set()
        self.dead_lettered: set[str] = set()
        self.held: set[str] = set()
        self.unavailable: set[str] = set()
        self.error_code: str | None = None
        self.results: dict[str, object] = {}

    def settle(
        self, event_id: str, state: RecordState, item: Mapping[str, Any] | None, data_attr: str
    ) -> None:
        if state is RecordState.COMPLETED:
            self.completed.add(event_id)
            self.results[event_id] = layout.stored_result(item, data_attr)
        elif state is RecordState.DEAD_LETTERED:
            self.completed.add(event_id)
            self.dead_lettered.add(event_id)
        elif state is RecordState.HELD:
            self.held.add(event_id)
        else:  # a free record is never settled here: the caller locks it
            raise AssertionError(state)


class BatchIdempotencyStore:
    """Locks, skips and completes a batch's event ids in powertools' idempotency table.

    ``key_prefix`` names the consumer in the keys (``<key_prefix>#<md5>``): use the
    function name, as :mod:`consumers.lambda_handler.idempotency` does, to share records
    with powertools. ``clock`` (Unix seconds) and ``sleep`` are injectable for tests; the
    DynamoDB client is injected, never built here. Thread-safe if the client is.
    """

    def __init__(
        self,
        table: str,
        *,
        dynamodb_client: DynamoDBClient,
        key_prefix: str,
        config: BatchIdempotencyConfig | None = None,
        record_layout: RecordLayout | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not table:
            raise ValueError("table must name a DynamoDB table")
        if not key_prefix:
            raise ValueError("key_prefix must not be empty")
        self.table = table
        self.key_prefix = key_prefix
        self.config = config or BatchIdempotencyConfig()
        self.layout = record_layout or RecordLayout()
        self._ddb = dynamodb_client
        self._clock = clock
        self._sleep = sleep
        self._random = random.Random()

    def key(self, event_id: str) -> str:
        """The record key of ``event_id`` (the same as powertools')."""
        return layout.idempotency_key(self.key_prefix, event_id)

    # -- lock --------------------------------------------------------------------------------
    def begin(self, ids: Iterable[str], *, remaining_time_ms: int | None = None) -> BatchLocks:
        """Lock the ids not completed and not held elsewhere; say what became of each.

        The locks expire (for other executions) after ``config.in_progress_expiry_seconds``
        when set, else after ``remaining_time_ms`` (the invocation's remaining time, as
        powertools does), else after :data:`DEFAULT_IN_PROGRESS_EXPIRY_SECONDS`. Never
        raises for a DynamoDB failure: the ids it could not settle are ``unavailable``.
        """
        unique = list(dict.fromkeys(ids))
        # The first lock's time: every lock of this call expires at or after the reported
        # expiry, so a holder that keeps to it never outlives its locks.
        started_ms = int(self._clock() * 1000)
        in_progress_ms = self._in_progress_millis(remaining_time_ms)
        outcome = _Outcome()
        pending = unique
        if self.config.lookup_first and unique:
            items, unread = self._batch_get(unique, outcome)
            now = self._clock()
            pending = []
            for event_id in unique:
                key = self.key(event_id)
                if key in unread:
                    outcome.unavailable.add(event_id)
                    continue
                item = items.get(key)
                state = layout.classify(item, now, self.layout)
                if state is RecordState.FREE:
                    pending.append(event_id)
                else:
                    outcome.settle(event_id, state, item, self.layout.data_attr)
        for chunk in _chunks(pending, MAX_TRANSACT_ITEMS):
            self._lock(list(chunk), in_progress_ms, outcome)
        acquired = set(outcome.acquired)
        return BatchLocks(
            acquired=tuple(i for i in unique if i in acquired),
            completed=frozenset(outcome.completed),
            dead_lettered=frozenset(outcome.dead_lettered),
            held=frozenset(outcome.held),
            unavailable=frozenset(outcome.unavailable),
            results=outcome.results,
            in_progress_expiry_ms=started_ms + in_progress_ms,
            error_code=outcome.error_code,
        )

    def _in_progress_millis(self, remaining_time_ms: int | None) -> int:
        if self.config.in_progress_expiry_seconds is not None:
            return int(self.config.in_progress_expiry_seconds * 1000)
        if remaining_time_ms is not None:
            return max(0, int(remaining_time_ms))
        return int(DEFAULT_IN_PROGRESS_EXPIRY_SECONDS * 1000)

    def _put(self, event_id: str, now: float, in_progress_ms: int) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table,
                "Item": layout.lock_item(
                    self.key(event_id),
                    now=now,
                    ttl_seconds=self.config.ttl_seconds,
                    in_progress_millis=in_progress_ms,
                    layout=self.layout,
                ),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                **layout.lock_condition(now, self.layout),
            }
        }

    def _lock(self, chunk: list[str], in_progress_ms: int, outcome: _Outcome) -> None:
        """Lock ``chunk`` (<= 100 ids) in transactions until each id is locked or settled."""
        remaining = chunk
        failures = 0
        while remaining:
            now = self._clock()
            try:
                # botocore fills ClientRequestToken, so its own retries of this call are
                # idempotent: a transaction applied but unanswered is not applied twice.
                items = [self._put(i, now, in_progress_ms) for i in remaining]
                self._ddb.transact_write_items(
                    TransactItems=cast("list[TransactWriteItemTypeDef]", items)
                )
            except (ClientError, BotoCoreError) as exc:
                code = aws.error_code(exc)
                outcome.error_code = code or type(exc).__name__
                if code == _CANCELLED and isinstance(exc, ClientError):
                    retry, progressed = self._sort_cancelled(remaining, exc, outcome)
                    remaining = retry
                    if progressed and remaining:
                        continue  # some ids settled: the rest go again at once
                elif not _retryable(exc):
                    # A request DynamoDB will refuse every time (validation, no table).
                    logger.warning("idempotency lock refused (%s): %s", code, exc)
                    outcome.unavailable.update(remaining)
                    return
                if not remaining:
                    return
                failures += 1
                if failures >= self.config.attempts:
                    logger.warning(
                        "idempotency lock of %d id(s) gave up after %d attempts (%s)",
                        len(remaining),
                        failures,
                        outcome.error_code,
                    )
                    outcome.unavailable.update(remaining)
                    return
                self._backoff(failures)
            else:
                outcome.acquired.extend(remaining)
                return

    def _sort_cancelled(
        self, remaining: list[str], exc: ClientError, outcome: _Outcome
    ) -> tuple[list[str], bool]:
        """Settle the ids whose condition failed; the ids to lock again, and whether any
        id was settled (progress, so no backoff is needed)."""
        response: dict[str, Any] = dict(exc.response)
        reasons: list[dict[str, Any]] = list(response.get("CancellationReasons") or [])
        if len(reasons) != len(remaining):
            return remaining, False  # cannot tell which: the whole transaction again
        retry: list[str] = []
        conflicts: list[tuple[str, dict[str, Any] | None]] = []
        for event_id, reason in zip(remaining, reasons, strict=True):
            if reason.get("Code") == _CONDITION_FAILED:
                conflicts.append((event_id, reason.get("Item")))
            else:  # "None" (cancelled with the rest), throttled, conflicting transaction
                retry.append(event_id)
                if reason.get("Code") not in (None, "None"):
                    outcome.error_code = str(reason.get("Code"))
        unread_ids = [i for i, item in conflicts if item is None]
        items: dict[str, dict[str, Any]] = {}
        unread: set[str] = set()
        if unread_ids:
            items, unread = self._batch_get(unread_ids, outcome)
        now = self._clock()
        progressed = False
        for event_id, old in conflicts:
            key = self.key(event_id)
            if old is None and key in unread:
                outcome.unavailable.add(event_id)
                progressed = True
                continue
            item = old if old is not None else items.get(key)
            state = layout.classify(item, now, self.layout)
            if state is RecordState.FREE:
                # The record changed since the condition failed (expired, deleted): try again.
                retry.append(event_id)
            else:
                outcome.settle(event_id, state, item, self.layout.data_attr)
                progressed = True
        order = {event_id: n for n, event_id in enumerate(remaining)}
        return sorted(retry, key=order.__getitem__), progressed

    # -- read --------------------------------------------------------------------------------
    def _batch_get(
        self, ids: Sequence[str], outcome: _Outcome
    ) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """The records of ``ids`` by key (strongly consistent), and the keys left unread."""
        items: dict[str, dict[str, Any]] = {}
        unread: set[str] = set()
        keys = list(dict.fromkeys(self.key(i) for i in ids))
        for chunk in _chunks(keys, MAX_BATCH_GET_KEYS):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [{self.layout.key_attr: {"S": k}} for k in chunk],
                    "ConsistentRead": True,
                }
            }
            failures = 0
            while request:
                try:
                    resp = self._ddb.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    code = aws.error_code(exc)
                    outcome.error_code = code or type(exc).__name__
                    if not _retryable(exc):
                        break
                else:
                    for item in resp.get("Responses", {}).get(self.table, []):
                        items[item[self.layout.key_attr]["S"]] = item
                    request = resp.get("UnprocessedKeys") or {}
                    if not request:
                        break
                    outcome.error_code = "UnprocessedKeys"
                failures += 1
                if failures >= self.config.attempts:
                    break
                self._backoff(failures)
            if request:
                unread.update(k[self.layout.key_attr]["S"] for k in request[self.table]["Keys"])
        return items, unread

    # -- complete / release ------------------------------------------------------------------
    def complete(self, ids: Iterable[str], results: Mapping[str, object] | None = None) -> None:
        """Record ``ids`` as processed (``COMPLETED``, result ``results[id]`` or None), so
        no execution processes them again while the records live.

        Raises :class:`IdempotencyStoreError` naming the ids whose record could not be
        written after the retries: those were processed, but their locks stay until the
        in-progress expiry and a replay after it would process them again.
        """
        ids = list(ids)
        now = self._clock()
        results = results or {}
        self._write(
            "complete",
            {
                self.key(i): {
                    "PutRequest": {
                        "Item": layout.completed_item(
                            self.key(i),
                            now=now,
                            ttl_seconds=self.config.ttl_seconds,
                            result=results.get(i),
                            layout=self.layout,
                        )
                    }
                }
                for i in ids
            },
            ids,
        )

    def mark_dead_lettered(self, ids: Iterable[str]) -> None:
        """Record ``ids`` as completed by the dead-letter queue (the marker
        :data:`~consumers.idempotency.layout.DEAD_LETTERED_RESULT`, as
        :mod:`consumers.lambda_handler.idempotency` writes it): :meth:`begin` then reports
        them in ``completed`` and ``dead_lettered``, never to process. Needs no lock."""
        ids = list(ids)
        self.complete(ids, dict.fromkeys(ids, layout.DEAD_LETTERED_RESULT))

    def release(self, ids: Iterable[str]) -> None:
        """Delete the locks of ``ids`` (processing failed or did not happen), so a retry
        can lock them at once instead of waiting for the in-progress expiry.

        Raises :class:`IdempotencyStoreError` naming the ids not released: harmless to
        log and ignore, their locks expire at the in-progress expiry."""
        ids = list(ids)
        self._write(
            "release",
            {
                self.key(i): {"DeleteRequest": {"Key": {self.layout.key_attr: {"S": self.key(i)}}}}
                for i in ids
            },
            ids,
        )

    def _write(self, what: str, requests: dict[str, dict[str, Any]], ids: Sequence[str]) -> None:
        """``BatchWriteItem`` of ``requests`` (by key), 25 per call, up to
        ``config.write_workers`` calls at once, unprocessed ones retried."""
        chunks = [list(c) for c in _chunks(list(requests.values()), MAX_BATCH_WRITE_ITEMS)]
        workers = min(self.config.write_workers, len(chunks))
        if workers > 1:
            with ThreadPoolExecutor(workers, thread_name_prefix="idempotency-write") as pool:
                outcomes = list(pool.map(self._write_chunk, chunks))
        else:
            outcomes = [self._write_chunk(c) for c in chunks]
        unwritten = {key for keys, _ in outcomes for key in keys}
        if unwritten:
            codes = [code for keys, code in outcomes if keys]
            failed = [i for i in dict.fromkeys(ids) if self.key(i) in unwritten]
            raise IdempotencyStoreError(
                f"cannot {what} idempotency records in {self.table}",
                ids=failed,
                error_code=codes[-1],
            )

    def _write_chunk(self, chunk: list[dict[str, Any]]) -> tuple[list[str], str | None]:
        """Write one chunk (<= 25); the keys left unwritten and the last error code."""
        pending = chunk
        error_code: str | None = None
        failures = 0
        while pending:
            try:
                resp = self._ddb.batch_write_item(
                    RequestItems={self.table: cast("list[WriteRequestTypeDef]", pending)}
                )
            except (ClientError, BotoCoreError) as exc:
                error_code = aws.error_code(exc) or type(exc).__name__
                if not _retryable(exc):
                    break
            else:
                unprocessed = (resp.get("UnprocessedItems") or {}).get(self.table, [])
                pending = [dict(item) for item in unprocessed]
                if not pending:
                    break
                error_code = "UnprocessedItems"
            failures += 1
            if failures >= self.config.attempts:
                break
            self._backoff(failures)
        return [self._request_key(r) for r in pending], error_code

    def _request_key(self, request: Mapping[str, Any]) -> str:
        if "PutRequest" in request:
            key: str = request["PutRequest"]["Item"][self.layout.key_attr]["S"]
        else:
            key = request["DeleteRequest"]["Key"][self.layout.key_attr]["S"]
        return key

    def _backoff(self, failures: int) -> None:
        self._sleep(self.config.delay(failures, self._random.random()))
