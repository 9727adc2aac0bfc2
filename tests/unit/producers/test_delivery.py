"""classify: what each entry of a PutRecords answer turns into."""

from __future__ import annotations

import random

from producers.batching import Entry, make_batcher
from producers.client import EntryOutcome
from producers.delivery import classify
from producers.exceptions import DeliveryError, RecordExpiredError, StreamNotFoundError
from producers.futures import RecordFuture
from producers.retry import Backoff

BACKOFF = Backoff(0.1, 1.0)


def _entries(n: int, *, shard: str = "shardId-1", put_time: float = 0.0) -> list[Entry]:
    batcher = make_batcher(
        shard, aggregation=False, max_record_bytes=1024 * 1024, limiter=None, clock=lambda: put_time
    )
    for i in range(n):
        batcher.add(f"k{i}", b"d", None, RecordFuture(), 3)
    entries = [batcher.pop() for _ in range(n)]
    for entry in entries:
        entry.attempts = 1
    return entries


def _ok(shard: str = "shardId-1") -> EntryOutcome:
    return EntryOutcome(shard_id=shard, sequence_number="1")


def test_partial_failure_retries_only_the_failed_entries() -> None:
    entries = _entries(3)
    results = [_ok(), EntryOutcome(error_code="ProvisionedThroughputExceededException"), _ok()]
    out = classify(
        entries, results, None, now=1.0, backoff=BACKOFF, ttl=30.0, stream="s", rng=random.Random(1)
    )
    assert [d.futures for d in out.delivered] == [entries[0].futures, entries[2].futures]
    assert [e for e, _ in out.retry] == [entries[1]]
    assert 0.0 <= out.retry[0][1] <= 0.1
    assert out.throttled == 1 and not out.failed and not out.resharded


def test_retry_that_would_start_after_the_ttl_expires_instead() -> None:
    entries = _entries(1, put_time=0.0)
    entries[0].attempts = 5  # backoff ceiling 1.0 s
    results = [EntryOutcome(error_code="InternalFailure")]
    out = classify(
        entries,
        results,
        None,
        now=29.99,
        backoff=Backoff(1.0, 1.0),
        ttl=30.0,
        stream="s",
        rng=random.Random(2),
    )
    ((_entry, error),) = out.failed
    assert isinstance(error, RecordExpiredError)
    assert error.error_code == "InternalFailure" and error.attempts == 5


def test_whole_call_errors() -> None:
    entries = _entries(2)
    denied = DeliveryError("denied", error_code="AccessDeniedException")
    out = classify(entries, None, denied, now=0.0, backoff=BACKOFF, ttl=30.0, stream="s")
    assert [type(err) for _, err in out.failed] == [DeliveryError, DeliveryError]
    assert all(err.error_code == "AccessDeniedException" for _, err in out.failed)
    gone = StreamNotFoundError("gone", error_code="ResourceNotFoundException")
    out = classify(entries, None, gone, now=0.0, backoff=BACKOFF, ttl=30.0, stream="s")
    assert [err for _, err in out.failed] == [gone, gone]
    lost = DeliveryError("reset", error_code="ConnectionError")
    out = classify(entries, None, lost, now=0.0, backoff=BACKOFF, ttl=30.0, stream="s")
    assert len(out.retry) == 2 and not out.failed


def test_unexpected_shard_marks_the_map_stale() -> None:
    plain = _entries(1)
    out = classify(plain, [_ok("shardId-7")], None, now=0.0, backoff=BACKOFF, ttl=30.0, stream="s")
    assert out.resharded and out.delivered and not out.misplaced
    batcher = make_batcher("shardId-1", aggregation=True, max_record_bytes=1 << 20, limiter=None)
    for i in range(2):
        batcher.add(f"k{i}", b"d", None, RecordFuture(), 3)
    aggregate = batcher.seal()
    assert aggregate is not None
    aggregate.attempts = 1
    out = classify(
        [aggregate], [_ok("shardId-7")], None, now=0.0, backoff=BACKOFF, ttl=30.0, stream="s"
    )
    assert out.resharded and out.misplaced and not out.delivered
