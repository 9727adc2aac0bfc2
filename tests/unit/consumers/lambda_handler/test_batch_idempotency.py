"""One invocation's batch idempotency, pure (a recording store): what each event gets from
``begin``'s locks, and what ``finish`` completes and releases."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from consumers import Event, Origin
from consumers.idempotency import BatchLocks, IdempotencyHeldError, IdempotencyStoreError
from consumers.lambda_handler.batch_idempotency import BatchIdempotency, InvocationIdempotency
from consumers.lambda_handler.idempotency import DEAD_LETTERED


class _Store:
    table = "idem"

    def __init__(self, *, fail_complete: bool = False) -> None:
        self.completed: list[tuple[list[str], dict[str, object]]] = []
        self.released: list[list[str]] = []
        self.dead: list[list[str]] = []
        self._fail_complete = fail_complete

    def complete(self, ids: list[str], results: dict[str, object]) -> None:
        if self._fail_complete:
            raise IdempotencyStoreError("cannot complete", ids=ids, error_code="Throttling")
        self.completed.append((list(ids), dict(results)))

    def release(self, ids: list[str]) -> None:
        self.released.append(list(ids))

    def mark_dead_lettered(self, ids: list[str]) -> None:
        self.dead.append(list(ids))


def _event(event_id: str, seq: int = 1) -> Event:
    origin = Origin("s", "shardId-000000000000", str(seq), None, "pk", datetime.now(UTC))
    envelope = {"id": event_id, "source": "t", "type": "t", "specversion": "1.0"}
    return Event(envelope, origin)


def _locks(**sets: Any) -> BatchLocks:
    return BatchLocks(
        acquired=tuple(sets.get("acquired", ())),
        completed=frozenset(sets.get("completed", ())),
        dead_lettered=frozenset(sets.get("dead_lettered", ())),
        held=frozenset(sets.get("held", ())),
        unavailable=frozenset(sets.get("unavailable", ())),
        in_progress_expiry_ms=0,
        error_code=sets.get("error_code"),
        results=sets.get("results", {}),
    )


def _invocation(store: _Store, locks: BatchLocks, runs: list[str]) -> InvocationIdempotency:
    def process(event: Event) -> object:
        runs.append(event.id)
        if event.id.startswith("bad"):
            raise RuntimeError("processing failed")
        return {"id": event.id, "done": True}

    return InvocationIdempotency(
        store,  # type: ignore[arg-type]
        locks,
        process,
        logger=logging.getLogger("test"),
    )


def test_completed_ids_give_their_stored_result_without_processing() -> None:
    runs: list[str] = []
    locks = _locks(
        completed={"c1", "c2", "d1"},
        dead_lettered={"d1"},
        results={"c1": None, "c2": {"id": "c2", "type": "enriched"}},
    )
    invocation = _invocation(_Store(), locks, runs)
    assert invocation.run(_event("c1")) is None
    assert invocation.run(_event("c2")) == {"id": "c2", "type": "enriched"}
    assert invocation.run(_event("d1")) == DEAD_LETTERED
    assert runs == []


def test_held_and_unavailable_ids_raise_what_is_not_the_events_fault() -> None:
    runs: list[str] = []
    invocation = _invocation(
        _Store(), _locks(held={"h1"}, unavailable={"u1"}, error_code="ThrottlingException"), runs
    )
    with pytest.raises(IdempotencyHeldError) as held:
        invocation.run(_event("h1"))
    with pytest.raises(IdempotencyStoreError, match="ThrottlingException") as unavailable:
        invocation.run(_event("u1"))
    assert BatchIdempotency.is_store_error(held.value)
    assert BatchIdempotency.is_store_error(unavailable.value)
    assert not BatchIdempotency.is_store_error(RuntimeError("the event's own failure"))
    assert runs == []


def test_an_id_twice_in_the_invocation_is_processed_once() -> None:
    runs: list[str] = []
    invocation = _invocation(_Store(), _locks(acquired=["e1", "bad1"]), runs)
    first = invocation.run(_event("e1", 1))
    assert invocation.run(_event("e1", 2)) == first
    with pytest.raises(RuntimeError):
        invocation.run(_event("bad1", 3))
    with pytest.raises(IdempotencyHeldError):  # its first event failed: retried, not rerun
        invocation.run(_event("bad1", 4))
    assert runs == ["e1", "bad1"]


def test_finish_completes_the_processed_and_releases_the_rest_but_dead_letters() -> None:
    store = _Store()
    runs: list[str] = []
    invocation = _invocation(store, _locks(acquired=["e1", "bad1", "bad2", "never"]), runs)
    invocation.run(_event("e1"))
    for event_id in ("bad1", "bad2"):
        with pytest.raises(RuntimeError):
            invocation.run(_event(event_id))
    invocation.mark_dead_lettered(_event("bad2"))
    invocation.finish()
    assert store.completed == [(["e1"], {"e1": {"id": "e1", "done": True}})]
    assert store.dead == [["bad2"]]
    assert store.released == [["bad1", "never"]]  # failed or never reached; not bad2


def test_a_failed_completion_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    store = _Store(fail_complete=True)
    invocation = _invocation(store, _locks(acquired=["e1"]), [])
    invocation.run(_event("e1"))
    invocation.finish()
    assert any("not completed" in r.getMessage() for r in caplog.records)
    assert store.released == []  # processed: its lock is not released for a rerun
