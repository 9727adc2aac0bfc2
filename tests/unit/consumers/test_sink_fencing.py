"""Two writers of one shard (a zombie that lost its lease and its successor, a slow Lambda
invocation and its retry): fenced commits leave every event exactly once as Athena reads it.

Through the public API (``S3Sink.shard``, ``ShardWriter.add`` / ``flush``) on the in-memory
store, whose hooks freeze one writer at any S3 request while the other runs.
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from consumers import Event, Origin, Position, S3Sink, SinkConfig, SinkError
from consumers.errors import FencedError
from consumers.sink import ShardWriter
from consumers.sink.store import StoreError
from consumers.sink.testing import InMemoryObjectStore

SHARD = "shardId-000000000000"
T0 = datetime(2026, 11, 26, 10, 59, 50, tzinfo=UTC)
BIG = SinkConfig(format="jsonl", max_records=1_000_000, max_span_seconds=3600)


class Crash(Exception):
    """The writer's process dies here."""


def events(first: int, last: int) -> list[Event]:
    """Events 1..N of the shard, one plain record each, crossing an hour (two partitions)."""
    out = []
    for n in range(first, last + 1):
        origin = Origin("s", SHARD, str(1000 + n), None, "pk", T0 + timedelta(milliseconds=100 * n))
        env = {"id": f"e{n}", "source": "t", "type": "t", "specversion": "1.0"}
        out.append(Event(env, origin, b"x" * 100, origin.arrival_time))
    return out


def pos(n: int) -> Position:
    return Position(str(1000 + n))


def writer(store: InMemoryObjectStore, resume_from: Position | None = None) -> ShardWriter:
    return S3Sink("b", stream="s", config=BIG, store=store).shard(SHARD, resume_from=resume_from)


def feed(w: ShardWriter, evs: list[Event]) -> None:
    for e in evs:
        w.add(e)


def athena(store: InMemoryObjectStore) -> Counter[str]:
    """Event ids as Athena reads the table: every visible object under the prefix."""
    ids: Counter[str] = Counter()
    for body in store.visible("events").values():
        ids.update(orjson.loads(line)["id"] for line in gzip.decompress(body).splitlines())
    return ids


def once(first: int, last: int) -> Counter[str]:
    return Counter(f"e{n}" for n in range(first, last + 1))


def test_successor_flushes_first_then_the_zombie_is_fenced() -> None:
    store = InMemoryObjectStore()
    zombie = writer(store)
    feed(zombie, events(1, 100))  # buffered; then the zombie pauses and loses its lease
    owner = writer(store)
    feed(owner, events(1, 150))
    owner.flush()
    with pytest.raises(FencedError) as err:
        zombie.flush()
    assert isinstance(err.value, SinkError)  # what the runtimes already handle
    assert (err.value.stream, err.value.shard_id) == ("s", SHARD)
    assert (err.value.first, err.value.last) == (pos(1), pos(100))
    assert "1001..1100" in str(err.value)
    assert zombie.checkpointable is None and zombie.fenced
    assert athena(store) == once(1, 150)
    assert owner.checkpointable == pos(150)
    with pytest.raises(FencedError):  # the zombie is done
        zombie.add(events(101, 101)[0])


def test_zombie_flushing_after_the_successor_loaded_the_manifests_is_fenced() -> None:
    store = InMemoryObjectStore()
    zombie = writer(store)
    feed(zombie, events(1, 100))
    owner = writer(store)
    owner.add(events(1, 1)[0])  # the successor's first record: it takes the shard over
    with pytest.raises(FencedError):
        zombie.flush()
    feed(owner, events(2, 150))
    owner.flush()
    assert athena(store) == once(1, 150)
    assert not any(".staging/" in k for k in store.objects)  # the refused flush is gone


def test_successor_from_an_older_checkpoint_continues_after_the_zombies_flush() -> None:
    store = InMemoryObjectStore()
    zombie = writer(store)
    feed(zombie, events(1, 50))
    zombie.flush()
    feed(zombie, events(51, 120))
    owner = writer(store)  # resumes from an older checkpoint: the start of the shard
    feed(owner, events(1, 200))
    (result,) = (owner.flush(),)
    assert result is not None and (result.first, result.last) == (pos(51), pos(200))
    with pytest.raises(FencedError):
        zombie.flush()
    assert zombie.checkpointable == pos(50)  # its own flush, never the refused range
    assert athena(store) == once(1, 200)


def test_a_writer_behind_when_it_claims_the_shard_continues_after_what_is_durable() -> None:
    store = InMemoryObjectStore()
    zombie = writer(store)
    feed(zombie, events(1, 60))
    owner = writer(store)
    read_head = {"done": False}

    def zombie_commits_between_read_and_claim(op: str, key: str) -> None:
        if op == "PutObject" and key.endswith(".head.json") and not read_head["done"]:
            read_head["done"] = True  # the owner read the head and is about to claim it
            store.before = None
            zombie.flush()

    store.before = zombie_commits_between_read_and_claim
    feed(owner, events(1, 100))
    owner.flush()
    assert read_head["done"]
    assert zombie.checkpointable == pos(60)
    assert owner.flushes[-1].first == pos(61)
    assert athena(store) == once(1, 100)


def _requests_of_a_flush() -> list[tuple[str, str]]:
    store = InMemoryObjectStore()
    w = writer(store)
    feed(w, events(1, 150))
    calls: list[tuple[str, str]] = []
    store.before = lambda op, key: calls.append((op, key))
    w.flush()
    return calls


FLUSH_CALLS = _requests_of_a_flush()


@pytest.mark.parametrize("at", range(len(FLUSH_CALLS)), ids=[op for op, _ in FLUSH_CALLS])
@pytest.mark.parametrize("then", ["wakes", "dies"])
def test_zombie_frozen_at_any_request_of_its_flush(at: int, then: str) -> None:
    """The zombie freezes at request ``at`` of its flush; the successor takes over and
    flushes everything; the zombie then wakes (and finishes or is fenced) or never does."""
    store = InMemoryObjectStore()
    zombie = writer(store)
    feed(zombie, events(1, 100))
    owner = writer(store)
    seen = {"n": 0}

    def freeze(op: str, key: str) -> None:
        seen["n"] += 1
        if seen["n"] - 1 == at:
            store.before = None
            feed(owner, events(1, 150))
            owner.flush()
            if then == "dies":
                raise Crash(op)

    store.before = freeze
    try:
        zombie.flush()
        fenced = False
    except FencedError:
        fenced = True
    except Crash:
        fenced = True
    assert athena(store) == once(1, 150)
    if not fenced:  # it committed before the takeover: the successor continued after it
        assert zombie.checkpointable == pos(100)
        assert owner.flushes[-1].first == pos(101)
    owner.add(events(151, 151)[0])
    owner.flush()
    assert athena(store) == once(1, 151)
    assert not any(".staging/" in k for k in store.objects)  # nothing left behind


@pytest.mark.parametrize("crash_at", ["stage", "commit-landed", "roll-forward"])
def test_a_writer_crashing_mid_flush_leaves_nothing_visible_twice(crash_at: str) -> None:
    store = InMemoryObjectStore()
    first = writer(store)
    feed(first, events(1, 100))

    def crash(op: str, key: str) -> None:
        if crash_at == "stage" and ".staging/" in key:
            raise Crash(op)  # before the first staged object
        if crash_at == "roll-forward" and op == "CopyObject":
            raise Crash(op)

    def crash_after(op: str, key: str) -> None:
        if crash_at == "commit-landed" and key.endswith(".head.json"):
            raise Crash(op)  # the commit landed, the process died before the answer

    first.flush()  # one flush goes through
    feed(first, events(101, 120))
    store.before, store.after = crash, crash_after
    with pytest.raises(Crash):
        first.flush()
    store.before = store.after = None
    visible_before = athena(store)
    assert visible_before == once(1, 100)  # a half-done flush shows nothing of its range
    restarted = writer(store, resume_from=first.checkpointable)
    feed(restarted, events(101, 130))
    restarted.flush()
    assert athena(store) == once(1, 130)
    assert not any(".staging/" in k for k in store.objects)


def test_a_commit_that_landed_but_answered_an_error_is_recognised_on_retry() -> None:
    store = InMemoryObjectStore()
    w = writer(store)
    feed(w, events(1, 100))
    failed = {"left": 1}

    def timeout_after_landing(op: str, key: str) -> None:
        if key.endswith(".head.json") and failed["left"]:
            failed["left"] = 0
            raise StoreError("timed out", error_code="RequestTimeout")

    store.after = timeout_after_landing
    with pytest.raises(SinkError) as err:
        w.flush()
    assert not isinstance(err.value, FencedError)
    assert w.checkpointable is None and w.buffered == 100
    w.add(events(101, 101)[0])  # the retry re-sends the same commit, then goes on
    w.flush()
    assert [(r.first, r.last) for r in w.flushes] == [(pos(1), pos(100)), (pos(101), pos(101))]
    assert athena(store) == once(1, 101)


def test_conditional_conflicts_409_are_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    store = InMemoryObjectStore()
    waits: list[float] = []
    monkeypatch.setattr("consumers.sink.commit.time.sleep", waits.append)
    w = writer(store)
    store.conflicts = 2  # the takeover's PUT and its first retry
    feed(w, events(1, 10))
    store.conflicts = 1  # the commit
    w.flush()
    assert athena(store) == once(1, 10)
    assert waits == [0.05, 0.2, 0.05]  # the first retry is immediate, later ones wait


def test_a_lambda_invocation_and_its_overlapping_retry_write_each_event_once() -> None:
    store = InMemoryObjectStore()
    sink = S3Sink("b", stream="s", config=BIG, store=store)
    slow = sink.shard(SHARD)
    retry = sink.shard(SHARD)
    interleave: dict[str, Callable[[], object] | None] = {
        "run": lambda: retry.write_batch(events(1, 80))  # the retry, bisected: a shorter batch
    }

    def slow_is_frozen_at_its_commit(op: str, key: str) -> None:
        run = interleave["run"]
        if run is not None and key.endswith(".head.json") and slow.buffered:
            interleave["run"] = None
            run()

    store.before = slow_is_frozen_at_its_commit
    with pytest.raises(FencedError):
        slow.write_batch(events(1, 100))
    store.before = None
    sink.write_batch(SHARD, events(1, 100))  # the next retry: 81..100 only
    assert athena(store) == once(1, 100)
