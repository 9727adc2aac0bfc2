"""The batch idempotency store's error paths, against a stubbed DynamoDB client: throttled
locks are retried with backoff, then failed (never processed without a lock); unprocessed
keys and items are retried; a refused request is not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from consumers.idempotency import (
    BatchIdempotencyConfig,
    BatchIdempotencyStore,
    IdempotencyStoreError,
)

TABLE = "idem"
NOW = 1_800_000_000.0


@pytest.fixture
def ddb() -> Any:
    return boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


@pytest.fixture
def stub(ddb: Any) -> Iterator[Stubber]:
    with Stubber(ddb) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


class _Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> _Sleeps:
    return _Sleeps()


def _store(ddb: Any, sleeps: _Sleeps, **config: Any) -> BatchIdempotencyStore:
    return BatchIdempotencyStore(
        TABLE,
        dynamodb_client=ddb,
        key_prefix="fn",
        config=BatchIdempotencyConfig(**{"attempts": 3, "write_workers": 1, **config}),
        clock=lambda: NOW,
        sleep=sleeps,
    )


def _cancelled(stub: Stubber, *reasons: dict[str, Any]) -> None:
    stub.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        response_meta={},
        modeled_fields={"CancellationReasons": list(reasons)},
    )


def test_a_throttled_lock_is_retried_with_backoff(ddb: Any, stub: Stubber, sleeps: _Sleeps) -> None:
    store = _store(ddb, sleeps)
    for _ in range(2):
        stub.add_client_error("transact_write_items", service_error_code="ThrottlingException")
    stub.add_response("transact_write_items", {}, {"TransactItems": ANY})

    locks = store.begin(["a", "b"], remaining_time_ms=30_000)
    assert locks.acquired == ("a", "b")
    assert not locks.unavailable
    assert len(sleeps) == 2
    assert locks.in_progress_expiry_ms == int(NOW * 1000) + 30_000


def test_a_lock_throttled_past_the_attempts_fails_the_ids_without_processing(
    ddb: Any, stub: Stubber, sleeps: _Sleeps
) -> None:
    store = _store(ddb, sleeps)
    for _ in range(3):
        stub.add_client_error(
            "transact_write_items", service_error_code="ProvisionedThroughputExceededException"
        )

    locks = store.begin(["a", "b", "c"])
    assert locks.acquired == ()
    assert locks.unavailable == frozenset({"a", "b", "c"})
    assert locks.retry == locks.unavailable
    assert not any(locks.should_process(i) for i in "abc")
    assert locks.error_code == "ProvisionedThroughputExceededException"
    assert len(sleeps) == 2  # three calls, a wait between each


def test_throttled_items_of_a_cancelled_transaction_are_retried(
    ddb: Any, stub: Stubber, sleeps: _Sleeps
) -> None:
    store = _store(ddb, sleeps)
    _cancelled(stub, {"Code": "None"}, {"Code": "ThrottlingError"})
    stub.add_response("transact_write_items", {}, {"TransactItems": ANY})

    assert store.begin(["a", "b"]).acquired == ("a", "b")
    assert len(sleeps) == 1


def test_a_failed_condition_without_the_old_item_is_read(
    ddb: Any, stub: Stubber, sleeps: _Sleeps
) -> None:
    store = _store(ddb, sleeps)
    key_b = store.key("b")
    _cancelled(stub, {"Code": "None"}, {"Code": "ConditionalCheckFailed"}, {"Code": "None"})
    stub.add_response(
        "batch_get_item",
        {
            "Responses": {
                TABLE: [
                    {
                        "id": {"S": key_b},
                        "status": {"S": "COMPLETED"},
                        "expiration": {"N": str(int(NOW) + 60)},
                        "data": {"S": "null"},
                    }
                ]
            }
        },
        {"RequestItems": {TABLE: {"Keys": [{"id": {"S": key_b}}], "ConsistentRead": True}}},
    )
    stub.add_response("transact_write_items", {}, {"TransactItems": ANY})

    locks = store.begin(["a", "b", "c"])
    assert locks.acquired == ("a", "c")
    assert locks.completed == frozenset({"b"})
    assert not sleeps  # progress: the rest went again at once


def test_a_held_record_from_the_cancellation_reasons(
    ddb: Any, stub: Stubber, sleeps: _Sleeps
) -> None:
    store = _store(ddb, sleeps)
    held = {
        "id": {"S": store.key("a")},
        "status": {"S": "INPROGRESS"},
        "expiration": {"N": str(int(NOW) + 3600)},
        "in_progress_expiration": {"N": str(int(NOW * 1000) + 5_000)},
    }
    _cancelled(stub, {"Code": "ConditionalCheckFailed", "Item": held})

    locks = store.begin(["a"])
    assert locks.held == frozenset({"a"})
    assert locks.acquired == ()


def test_a_refused_lock_is_not_retried(ddb: Any, stub: Stubber, sleeps: _Sleeps) -> None:
    store = _store(ddb, sleeps)
    stub.add_client_error("transact_write_items", service_error_code="ResourceNotFoundException")

    locks = store.begin(["a"])
    assert locks.unavailable == frozenset({"a"})
    assert locks.error_code == "ResourceNotFoundException"
    assert not sleeps


def test_unprocessed_keys_of_a_lookup_are_retried_then_unavailable(
    ddb: Any, stub: Stubber, sleeps: _Sleeps
) -> None:
    store = _store(ddb, sleeps, lookup_first=True)
    ka, kb = store.key("a"), store.key("b")
    unprocessed = {TABLE: {"Keys": [{"id": {"S": kb}}], "ConsistentRead": True}}
    stub.add_response(
        "batch_get_item",
        {"Responses": {TABLE: []}, "UnprocessedKeys": unprocessed},
        {
            "RequestItems": {
                TABLE: {"Keys": [{"id": {"S": ka}}, {"id": {"S": kb}}], "ConsistentRead": True}
            }
        },
    )
    for _ in range(2):
        stub.add_response(
            "batch_get_item",
            {"Responses": {TABLE: []}, "UnprocessedKeys": unprocessed},
            {"RequestItems": unprocessed},
        )
    stub.add_response("transact_write_items", {}, {"TransactItems": ANY})

    locks = store.begin(["a", "b"])
    assert locks.acquired == ("a",)
    assert locks.unavailable == frozenset({"b"})
    assert len(sleeps) == 2


def test_unprocessed_completions_are_retried(ddb: Any, stub: Stubber, sleeps: _Sleeps) -> None:
    store = _store(ddb, sleeps)
    ids = [f"e{i}" for i in range(30)]
    # 25 then 5: the first call is fully processed, the second leaves one item, once.
    stub.add_response("batch_write_item", {}, {"RequestItems": {TABLE: ANY}})
    item = {
        "PutRequest": {
            "Item": {
                "id": {"S": store.key("e29")},
                "expiration": {"N": str(int(NOW) + 3600)},
                "status": {"S": "COMPLETED"},
                "data": {"S": "null"},
            }
        }
    }
    stub.add_response(
        "batch_write_item",
        {"UnprocessedItems": {TABLE: [item]}},
        {"RequestItems": {TABLE: ANY}},
    )
    stub.add_response("batch_write_item", {}, {"RequestItems": {TABLE: [item]}})

    store.complete(ids)
    assert len(sleeps) == 1


def test_completions_left_unprocessed_raise_with_their_ids(
    ddb: Any, stub: Stubber, sleeps: _Sleeps
) -> None:
    store = _store(ddb, sleeps)
    item = {"DeleteRequest": {"Key": {"id": {"S": store.key("b")}}}}
    stub.add_response(
        "batch_write_item", {"UnprocessedItems": {TABLE: [item]}}, {"RequestItems": {TABLE: ANY}}
    )
    for _ in range(2):
        stub.add_client_error("batch_write_item", service_error_code="ThrottlingException")

    with pytest.raises(IdempotencyStoreError) as caught:
        store.release(iter(["a", "b"]))  # any iterable, read once
    assert caught.value.ids == ("b",)
    assert caught.value.error_code == "ThrottlingException"


def test_any_5xx_is_retried(ddb: Any, stub: Stubber, sleeps: _Sleeps) -> None:
    store = _store(ddb, sleeps)
    stub.add_client_error("transact_write_items", service_error_code="500", http_status_code=500)
    stub.add_response("transact_write_items", {}, {"TransactItems": ANY})

    assert store.begin(["a"]).acquired == ("a",)
    assert len(sleeps) == 1


def test_an_empty_batch_makes_no_call(ddb: Any, stub: Stubber, sleeps: _Sleeps) -> None:
    store = _store(ddb, sleeps, lookup_first=True)
    locks = store.begin([])
    store.complete([])
    store.release([])
    store.mark_dead_lettered([])
    assert locks.acquired == () and not locks.retry  # the stub had no response to give
