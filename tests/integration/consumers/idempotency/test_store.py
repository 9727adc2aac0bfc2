"""The batch idempotency store against a DynamoDB endpoint: its guarantees, and interop
with powertools' per-event idempotency on the same table."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)

from consumers import Event, Origin
from consumers.idempotency import (
    BatchIdempotencyConfig,
    BatchIdempotencyStore,
    idempotency_key,
)
from consumers.lambda_handler.clients import Clients
from consumers.lambda_handler.idempotency import DEAD_LETTERED, Idempotency

PREFIX = "fn-under-test"


@pytest.fixture
def table(aws_client: Callable[[str], Any], unique_name: Callable[[str], str]) -> str:
    name = unique_name("idem")
    aws_client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@pytest.fixture
def make_store(
    aws_client: Callable[[str], Any], table: str
) -> Callable[..., BatchIdempotencyStore]:
    """A store on ``table``, each with its own client (as another execution environment)."""

    def make(*, clock: Callable[[], float] = time.time, **config: Any) -> BatchIdempotencyStore:
        return BatchIdempotencyStore(
            table,
            dynamodb_client=aws_client("dynamodb"),
            key_prefix=PREFIX,
            config=BatchIdempotencyConfig(**config),
            clock=clock,
        )

    return make


def _ids(n: int, start: int = 0) -> list[str]:
    return [f"evt-{i:05d}" for i in range(start, start + n)]


def _later(seconds: float) -> Callable[[], float]:
    """A clock ``seconds`` ahead: a store that runs after a record's expiry."""
    return lambda: time.time() + seconds


def _event(event_id: str) -> Event:
    envelope = {"id": event_id, "source": "test", "type": "t", "specversion": "1.0"}
    return Event(envelope, Origin("s", "shardId-0", "1", None, "pk", datetime.now(UTC)))


def _powertools(
    aws_client: Callable[[str], Any], table: str, process: Callable[[Event], Any]
) -> Idempotency:
    return Idempotency(
        table,
        process,
        clients=Clients(dynamodb=aws_client("dynamodb")),
        function_name=PREFIX,
        ttl_seconds=3600,
        in_progress_expiry_seconds=600,
    )


@pytest.mark.parametrize("lookup_first", [False, True])
def test_new_ids_are_locked_in_order_and_completed_ones_skipped(
    make_store: Callable[..., BatchIdempotencyStore], lookup_first: bool
) -> None:
    store = make_store(lookup_first=lookup_first)
    ids = _ids(250)
    locks = store.begin(ids + ids[:3])  # duplicates are locked once
    assert locks.acquired == tuple(ids)
    assert not (locks.completed | locks.held | locks.unavailable)

    store.complete(ids[:200])
    store.release(ids[200:])
    again = store.begin(ids)
    assert again.completed == frozenset(ids[:200])
    assert again.acquired == tuple(ids[200:])  # released: locked again at once
    assert not again.dead_lettered and not again.held


@pytest.mark.parametrize("lookup_first", [False, True])
def test_an_id_held_by_another_execution_is_not_processed(
    make_store: Callable[..., BatchIdempotencyStore], lookup_first: bool
) -> None:
    first, second = make_store(), make_store(lookup_first=lookup_first)
    held = _ids(100, start=40)[::3]  # scattered over both transactions of the second
    first.begin(held)

    locks = second.begin(_ids(150))
    assert locks.held == frozenset(held)
    assert locks.retry == frozenset(held)
    assert locks.acquired == tuple(i for i in _ids(150) if i not in set(held))
    assert not any(locks.should_process(i) for i in held)

    first.complete(held)
    assert second.begin(held).completed == frozenset(held)


def test_a_crashed_holders_locks_expire(make_store: Callable[..., BatchIdempotencyStore]) -> None:
    ids = _ids(30)
    crashed = make_store(in_progress_expiry_seconds=60)
    assert crashed.begin(ids).acquired == tuple(ids)
    # The holder is gone without completing or releasing (a timeout, a crash).

    assert make_store().begin(ids).held == frozenset(ids)  # before the in-progress expiry
    successor = make_store(clock=_later(61))
    locks = successor.begin(ids)
    assert locks.acquired == tuple(ids)  # after it: taken over
    successor.complete(ids)
    assert make_store().begin(ids).completed == frozenset(ids)


def test_the_in_progress_expiry_follows_the_remaining_time(
    make_store: Callable[..., BatchIdempotencyStore],
) -> None:
    ids = _ids(5)
    make_store().begin(ids, remaining_time_ms=30_000)
    assert make_store(clock=_later(20)).begin(ids).held == frozenset(ids)
    assert make_store(clock=_later(31)).begin(ids).acquired == tuple(ids)


def test_a_completed_id_is_processed_again_only_after_its_record_expires(
    make_store: Callable[..., BatchIdempotencyStore],
) -> None:
    ids = _ids(10)
    store = make_store(ttl_seconds=100)
    store.begin(ids)
    store.complete(ids)
    assert make_store(clock=_later(99)).begin(ids).completed == frozenset(ids)
    assert make_store(clock=_later(102)).begin(ids).acquired == tuple(ids)


def test_dead_lettered_ids_stay_completed(make_store: Callable[..., BatchIdempotencyStore]) -> None:
    store = make_store()
    ids = _ids(40)
    locks = store.begin(ids)
    store.complete(ids[:30])
    store.mark_dead_lettered(ids[30:])  # over this execution's own locks

    again = make_store().begin(ids)
    assert again.completed == frozenset(ids)
    assert again.dead_lettered == frozenset(ids[30:])
    assert not again.acquired
    assert locks.acquired == tuple(ids)


def test_records_written_by_powertools_are_recognised(
    aws_client: Callable[[str], Any],
    table: str,
    make_store: Callable[..., BatchIdempotencyStore],
) -> None:
    calls: list[str] = []
    pt = _powertools(aws_client, table, lambda e: calls.append(e.id))
    for event_id in _ids(3):
        assert pt.run(_event(event_id)) is None  # the processing's result (list.append's)
    pt.mark_dead_lettered(_event("evt-00003"))
    layer = DynamoDBPersistenceLayer(table_name=table, boto3_client=aws_client("dynamodb"))
    layer.configure(IdempotencyConfig(event_key_jmespath="id"), key_prefix=PREFIX)
    layer.save_inprogress(data={"id": "evt-00004"}, remaining_time_in_millis=600_000)

    locks = make_store().begin(_ids(6))
    assert locks.completed == frozenset(_ids(4))
    assert locks.dead_lettered == frozenset({"evt-00003"})
    assert locks.held == frozenset({"evt-00004"})
    assert locks.acquired == ("evt-00005",)
    assert calls == _ids(3)
    # A hit gives the stored result back, as powertools does: None here.
    assert locks.results == dict.fromkeys(_ids(3))


def test_records_written_by_the_store_are_recognised_by_powertools(
    aws_client: Callable[[str], Any],
    table: str,
    make_store: Callable[..., BatchIdempotencyStore],
) -> None:
    store = make_store()
    store.begin(_ids(3))
    store.complete(_ids(1))
    store.mark_dead_lettered(["evt-00001"])
    calls: list[str] = []
    pt = _powertools(aws_client, table, lambda e: calls.append(e.id))

    # Idempotency.run returns the stored result (None here) or the dead-letter marker.
    assert pt.run(_event("evt-00000")) is None  # completed: not processed again
    assert pt.run(_event("evt-00001")) == DEAD_LETTERED  # dead-lettered
    with pytest.raises(IdempotencyAlreadyInProgressError):
        pt.run(_event("evt-00002"))  # locked by the store
    assert pt.run(_event("evt-00003")) is None  # unknown to the store: processed
    assert calls == ["evt-00003"]


def test_items_have_powertools_layout(
    aws_client: Callable[[str], Any],
    table: str,
    make_store: Callable[..., BatchIdempotencyStore],
) -> None:
    ddb = aws_client("dynamodb")
    pt = _powertools(aws_client, table, lambda e: None)
    pt.run(_event("by-powertools"))
    store = make_store()
    store.begin(["by-store"])
    store.complete(["by-store"])

    def item(event_id: str) -> dict[str, Any]:
        got: dict[str, Any] = ddb.get_item(
            TableName=table, Key={"id": {"S": idempotency_key(PREFIX, event_id)}}
        )["Item"]
        return got

    theirs, ours = item("by-powertools"), item("by-store")
    # powertools' completed record keeps its lock's stale in_progress_expiration; ours not.
    theirs.pop("in_progress_expiration")
    assert {k: next(iter(v)) for k, v in ours.items()} == {
        k: next(iter(v)) for k, v in theirs.items()
    }
    assert ours["status"] == theirs["status"] == {"S": "COMPLETED"}
    assert ours["data"] == theirs["data"] == {"S": "null"}


def test_a_retried_batch_processes_each_event_once(
    make_store: Callable[..., BatchIdempotencyStore],
) -> None:
    """The usage the store's docstring shows, with a stop-at-first-failure shard."""
    ids = _ids(120)
    calls: list[str] = []
    failing = {"evt-00070"}

    def invoke(store: BatchIdempotencyStore) -> list[str]:
        locks = store.begin(ids)
        done, failed = [], []
        for n, event_id in enumerate(ids):
            if event_id in locks.completed:
                continue
            if not locks.should_process(event_id):
                failed.append(event_id)
                continue
            if event_id in failing:
                failed += ids[n:]  # this and every later event of the shard
                break
            calls.append(event_id)
            done.append(event_id)
        store.complete(done)
        store.release([i for i in failed if locks.should_process(i)])
        return failed

    assert invoke(make_store())[0] == "evt-00070"
    failing.clear()
    assert invoke(make_store()) == []  # the retry, in another execution environment
    assert invoke(make_store()) == []  # a replay: nothing processed
    assert calls == ids
