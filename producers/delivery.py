"""What a PutRecords answer means for each entry: delivered, retry, failed, or misplaced.

Pure code: :func:`classify` reads the per-entry results (or the error that failed the
whole call) and sorts the entries, choosing a backoff delay for the retryable ones and
giving up on those whose next attempt would start after their time to live. The producer
then applies the :class:`Outcomes`: it completes futures outside its lock and puts the
retries back at the head of their shard's queue.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from producers.batching import Entry
from producers.client import EntryOutcome
from producers.exceptions import (
    DeliveryError,
    ProducerError,
    RecordExpiredError,
    StreamNotFoundError,
)
from producers.futures import RecordFuture, _Delivery
from producers.retry import THROTTLING_ERROR_CODES, Backoff, is_retryable

__all__ = ["Delivered", "Outcomes", "classify", "expired_error"]


class Delivered:
    """Futures that share one Kinesis record, and what they held of the buffer."""

    __slots__ = ("delivery", "futures", "nbytes", "put_time", "size")

    def __init__(
        self,
        futures: list[RecordFuture],
        delivery: _Delivery,
        *,
        size: int,
        nbytes: int,
        put_time: float,
    ) -> None:
        self.futures = futures
        self.delivery = delivery
        self.size = size
        self.nbytes = nbytes
        self.put_time = put_time

    @classmethod
    def of(
        cls, entry: Entry, result: EntryOutcome, futures: list[RecordFuture], nbytes: int = -1
    ) -> Delivered:
        """The delivery of ``futures`` (all or some of ``entry``'s) where ``result`` says."""
        assert result.shard_id is not None and result.sequence_number is not None
        return cls(
            futures,
            _Delivery(result.shard_id, result.sequence_number, entry.attempts, entry.aggregated),
            size=entry.size,
            nbytes=entry.nbytes if nbytes < 0 else nbytes,
            put_time=entry.put_time,
        )


@dataclass(slots=True)
class Outcomes:
    """What one PutRecords call (or a refresh, or a shutdown) decided."""

    delivered: list[Delivered] = field(default_factory=list)
    failed: list[tuple[Entry, ProducerError]] = field(default_factory=list)
    #: Entries to send again, with the delay before their shard may send.
    retry: list[tuple[Entry, float]] = field(default_factory=list)
    #: Aggregates written to a shard other than the predicted one (after a resharding the
    #: producer has not seen): their records are checked against the new shard map.
    misplaced: list[tuple[Entry, EntryOutcome]] = field(default_factory=list)
    #: Kinesis named a shard the map did not predict: the map needs a refresh.
    resharded: bool = False
    #: Entries answered with a throttling error.
    throttled: int = 0


def expired_error(entry: Entry, *, ttl: float, stream: str) -> RecordExpiredError:
    """The error for an entry whose records were not delivered within ``ttl`` seconds."""
    if entry.attempts:
        why = f"{entry.attempts} attempts, last error {entry.last_error}"
    else:
        why = "never sent: waiting behind the rate limit, a backoff or its shard's queue"
    return RecordExpiredError(
        f"record not delivered within record_ttl={ttl} s of put ({why})",
        ttl=ttl,
        stream=stream,
        shard_id=entry.owner.shard_id if entry.owner is not None else None,
        error_code=entry.last_error,
        attempts=entry.attempts,
    )


def classify(
    entries: Sequence[Entry],
    results: Sequence[EntryOutcome] | None,
    error: ProducerError | None,
    *,
    now: float,
    backoff: Backoff,
    ttl: float,
    stream: str,
    rng: random.Random | None = None,
) -> Outcomes:
    """Sort the entries of one PutRecords call by what happens to them next.

    ``results`` are the per-entry answers, or None when the call failed as a whole with
    ``error``. An entry is retried when its error code is retryable and its next attempt
    (after a full-jitter backoff) starts within ``ttl`` seconds of its oldest ``put``.
    """
    outcomes = Outcomes()
    for i, entry in enumerate(entries):
        result = results[i] if results is not None else None
        predicted = entry.owner.shard_id if entry.owner is not None else None
        if result is not None and result.error_code is None:
            if result.shard_id != predicted:
                outcomes.resharded = True
                if entry.aggregated:
                    outcomes.misplaced.append((entry, result))
                    continue
            outcomes.delivered.append(Delivered.of(entry, result, entry.futures))
            continue
        code = (result.error_code if result is not None else None) or (
            error.error_code if error is not None else None
        )
        code = code or "Unknown"
        entry.last_error = code
        if code in THROTTLING_ERROR_CODES:
            outcomes.throttled += 1
        if isinstance(error, StreamNotFoundError):
            outcomes.failed.append((entry, error))
        elif not is_retryable(code):
            message = result.error_message if result is not None else str(error)
            outcomes.failed.append(
                (
                    entry,
                    DeliveryError(
                        f"Kinesis rejected the record ({code}): {message}",
                        stream=stream,
                        shard_id=predicted,
                        error_code=code,
                        attempts=entry.attempts,
                    ),
                )
            )
        else:
            delay = backoff.delay(entry.attempts, rng)
            if now + delay >= entry.put_time + ttl:
                outcomes.failed.append((entry, expired_error(entry, ttl=ttl, stream=stream)))
            else:
                outcomes.retry.append((entry, delay))
    return outcomes
