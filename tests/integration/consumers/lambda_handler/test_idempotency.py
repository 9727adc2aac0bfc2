"""The handler's idempotency guarantees, under both modes (``SHARDFLOW_IDEMPOTENCY``):
a retried batch, another execution holding a lock, a crashed holder's expired lock, a
throttled lock call."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from handler_batches import Flaky, both_idempotency_modes, failed_seqs, seqs

from consumers.idempotency import BatchIdempotencyConfig, BatchIdempotencyStore
from consumers.lambda_handler import Clients


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in rows]


def other_environment(
    handler_env: Any, *, clock: Callable[[], float] = time.time, **config: Any
) -> BatchIdempotencyStore:
    """A store of another execution environment of the same function, on the same table."""
    return BatchIdempotencyStore(
        handler_env.config.idempotency_table,
        dynamodb_client=handler_env.clients.dynamodb,
        key_prefix=handler_env.config.function_name,
        config=BatchIdempotencyConfig(**config),
        clock=clock,
    )


def attempts_counted(handler_env: Any) -> int:
    table = handler_env.config.attempts_table
    return int(handler_env.clients.dynamodb.scan(TableName=table, Select="COUNT")["Count"])


class CallCounter:
    """Counts a client's DynamoDB calls by operation (a botocore event hook)."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        client.meta.events.register("before-call.dynamodb.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1


@both_idempotency_modes
def test_a_retried_batch_processes_each_event_once(
    handler_env: Any, events: Any, context: Any
) -> None:
    event = events.kinesis_event(
        [
            ("a", events.aggregate(["e1", "e2"])),
            ("b", events.envelope("e3")),
            ("c", events.envelope("e4")),
        ],
        stream=handler_env.stream,
    )
    process = Flaky({"e3": 1})
    counter = CallCounter(handler_env.clients.dynamodb)
    consumer = handler_env.consumer(process)
    assert failed_seqs(consumer(event, context)) == seqs(event)[1:]
    if handler_env.config.idempotency_mode == "batch":
        # One lock call for the invocation's ids, none per event.
        assert counter.calls["TransactWriteItems"] == 1
        assert counter.calls["PutItem"] == 0
    # Lambda retries the whole batch (a timeout, bisecting), then it is replayed again on a
    # fresh execution environment.
    assert consumer(event, context) == {"batchItemFailures": []}
    assert handler_env.consumer(process)(event, context) == {"batchItemFailures": []}
    assert process.runs == Counter({"e1": 1, "e2": 1, "e3": 2, "e4": 1})  # e3 failed once
    assert ids(handler_env.output()) == ["e1", "e2", "e3", "e4"]


@both_idempotency_modes
def test_a_lock_held_by_another_environment_fails_the_record_without_processing(
    handler_env: Any, events: Any, context: Any
) -> None:
    event = events.kinesis_event(
        [(f"k{i}", events.envelope(f"e{i}")) for i in range(1, 4)], stream=handler_env.stream
    )
    holder = other_environment(handler_env, in_progress_expiry_seconds=600)
    assert holder.begin(["e2"]).acquired == ("e2",)
    process = Flaky()
    consumer = handler_env.consumer(process)
    for _ in range(handler_env.config.max_attempts + 1):
        # e2 and the rest of its shard are retried; e2 never runs here, nor counts an attempt.
        assert failed_seqs(consumer(event, context)) == seqs(event)[1:]
    assert process.runs == Counter({"e1": 1})
    assert attempts_counted(handler_env) == 0
    assert handler_env.dead_letters() == []
    assert ids(handler_env.output()) == ["e1"]

    # The holder processed e2 and completed it: the retry writes it without processing it.
    holder.complete(["e2"])
    assert consumer(event, context) == {"batchItemFailures": []}
    assert process.runs == Counter({"e1": 1, "e3": 1})
    assert ids(handler_env.output()) == ["e1", "e2", "e3"]


@both_idempotency_modes
def test_a_crashed_holders_lock_is_taken_over_once_its_in_progress_expiry_passed(
    handler_env: Any, events: Any, context: Any
) -> None:
    # Another environment locked e1 and e2 a minute ago with a 1 s in-progress expiry, then
    # crashed before completing them (its record TTL is an hour: the record is alive).
    crashed = other_environment(
        handler_env, in_progress_expiry_seconds=1, clock=lambda: time.time() - 60
    )
    assert crashed.begin(["e1", "e2"]).acquired == ("e1", "e2")
    event = events.kinesis_event(
        [("a", events.aggregate(["e1", "e2"])), ("b", events.envelope("e3"))],
        stream=handler_env.stream,
    )
    process = Flaky()
    assert handler_env.consumer(process)(event, context) == {"batchItemFailures": []}
    assert process.runs == Counter({"e1": 1, "e2": 1, "e3": 1})
    assert ids(handler_env.output()) == ["e1", "e2", "e3"]
    # Completed by the takeover: a replay does not process them again.
    assert handler_env.consumer(process)(event, context) == {"batchItemFailures": []}
    assert process.runs == Counter({"e1": 1, "e2": 1, "e3": 1})


class ThrottledLocks:
    """A DynamoDB client whose lock calls on ``table`` are throttled (TransactWriteItems for
    the batch store, PutItem for powertools); everything else goes through."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _throttle(self, operation: str) -> ClientError:
        self.refused += 1
        return ClientError(
            {
                "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            },
            operation,
        )

    def transact_write_items(self, **kwargs: Any) -> Any:
        if any(
            next(iter(item.values()))["TableName"] == self._table
            for item in kwargs["TransactItems"]
        ):
            raise self._throttle("TransactWriteItems")
        return self._client.transact_write_items(**kwargs)

    def put_item(self, **kwargs: Any) -> Any:
        if kwargs["TableName"] == self._table:
            raise self._throttle("PutItem")
        return self._client.put_item(**kwargs)


@both_idempotency_modes
def test_a_throttled_lock_call_fails_the_records_without_processing(
    handler_env: Any, events: Any, context: Any
) -> None:
    event = events.kinesis_event(
        [("a", events.aggregate(["e1", "e2"])), ("b", events.envelope("e3"))],
        stream=handler_env.stream,
    )
    real = handler_env.clients
    throttled = ThrottledLocks(real.dynamodb, handler_env.config.idempotency_table)
    handler_env.clients = Clients(s3=real.s3, sqs=real.sqs, dynamodb=throttled)
    process = Flaky()
    consumer = handler_env.consumer(process)
    for _ in range(handler_env.config.max_attempts + 1):
        assert failed_seqs(consumer(event, context)) == seqs(event)
    assert throttled.refused > 0
    assert process.runs == Counter()
    assert attempts_counted(handler_env) == 0  # not the events' fault: no attempt counted
    assert handler_env.dead_letters() == []
    assert handler_env.output() == []

    handler_env.clients = real
    assert handler_env.consumer(process)(event, context) == {"batchItemFailures": []}
    assert process.runs == Counter({"e1": 1, "e2": 1, "e3": 1})
    assert ids(handler_env.output()) == ["e1", "e2", "e3"]


@both_idempotency_modes
# powertools (event mode) warns that it cannot tell the remaining time; it locks anyway.
@pytest.mark.filterwarnings("ignore:Couldn't determine the remaining time")
def test_an_invocation_without_a_context_locks_with_the_default_expiry(
    handler_env: Any, events: Any
) -> None:
    # A program calling the consumer directly may pass no Lambda context.
    event = events.kinesis_event([("a", events.envelope("e1"))], stream=handler_env.stream)
    process = Flaky()
    assert handler_env.consumer(process)(event, None) == {"batchItemFailures": []}
    assert handler_env.consumer(process)(event, None) == {"batchItemFailures": []}
    assert process.runs == Counter({"e1": 1})
    assert ids(handler_env.output()) == ["e1"]
