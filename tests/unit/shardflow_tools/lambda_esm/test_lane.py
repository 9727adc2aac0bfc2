"""A lane's batching, retry, bisection and discard rules, as the event source mapping has them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shardflow_tools.lambda_esm.config import MappingConfig
from shardflow_tools.lambda_esm.lane import (
    RECORD_AGE_EXCEEDED,
    RETRY_ATTEMPTS_EXHAUSTED,
    LaneState,
    lane_of,
)
from shardflow_tools.lambda_esm.outcome import InvocationResult, Outcome

MakeRecords = Callable[..., list[Any]]

ERROR = InvocationResult.failed("boom")
SUCCESS = InvocationResult.success()


def partial(index: int) -> InvocationResult:
    return InvocationResult(Outcome.PARTIAL, first_failed=index)


def seqs(records: list[Any]) -> list[int]:
    return [int(r.sequence_number[4:]) for r in records]


def lane(**config: Any) -> LaneState:
    return LaneState(MappingConfig(**config))


def test_batches_hold_at_most_batch_size_records_in_order(make_records: MakeRecords) -> None:
    state = lane(batch_size=3)
    state.add(make_records(7), now=0)
    sizes = []
    while not state.idle:
        batch = state.batch()
        sizes.append(seqs(batch))
        state.settle(SUCCESS)
    assert sizes == [[1, 2, 3], [4, 5, 6], [7]]


def test_payload_limit_cuts_a_batch_before_batch_size(make_records: MakeRecords) -> None:
    state = LaneState(MappingConfig(batch_size=100), max_payload_bytes=2500)
    state.add(make_records(10), now=0)  # each record ~ 600 bytes of overhead + data
    first = state.batch()
    assert 1 <= len(first) < 10
    assert sum(r.size for r in first) <= 2500


def test_batching_window_waits_for_a_full_batch_or_the_window(make_records: MakeRecords) -> None:
    state = lane(batch_size=5, maximum_batching_window_in_seconds=2)
    assert state.wait_time(0) is None
    state.add(make_records(2), now=10.0)
    assert state.wait_time(10.5) == pytest.approx(1.5)
    assert state.wait_time(12.0) == 0
    state.add(make_records(3, start=3), now=10.6)
    assert state.wait_time(10.6) == 0  # full


def test_without_window_a_batch_is_due_at_once(make_records: MakeRecords) -> None:
    state = lane(batch_size=5)
    state.add(make_records(1), now=10.0)
    assert state.wait_time(10.0) == 0


def test_partial_failure_completes_the_prefix_and_retries_from_the_failed_record(
    make_records: MakeRecords,
) -> None:
    state = lane(batch_size=4)
    state.add(make_records(6), now=0)
    assert seqs(state.batch()) == [1, 2, 3, 4]
    settled = state.settle(partial(2))
    assert seqs(settled.completed) == [1, 2]
    assert settled.retry and not settled.discarded
    # Without bisection the retry is a new batch read from the failed record on.
    assert seqs(state.batch()) == [3, 4, 5, 6]


def test_partial_failure_with_bisect_retries_only_the_rest_of_the_batch(
    make_records: MakeRecords,
) -> None:
    state = lane(batch_size=4, bisect_batch_on_function_error=True)
    state.add(make_records(6), now=0)
    state.batch()
    state.settle(partial(1))
    assert seqs(state.batch()) == [2, 3, 4]


def test_function_error_retries_the_same_batch(make_records: MakeRecords) -> None:
    state = lane(batch_size=3)
    state.add(make_records(5), now=0)
    first = seqs(state.batch())
    settled = state.settle(ERROR)
    assert settled.retry and settled.attempt == 1 and not settled.completed
    assert seqs(state.batch()) == first


def test_bisection_splits_until_the_bad_record_is_alone(make_records: MakeRecords) -> None:
    state = lane(batch_size=8, bisect_batch_on_function_error=True, maximum_retry_attempts=0)
    state.add(make_records(8), now=0)
    bad = 6
    invoked: list[list[int]] = []
    completed: list[int] = []
    discarded: list[int] = []
    while not state.idle:
        batch = seqs(state.batch())
        invoked.append(batch)
        settled = state.settle(ERROR if bad in batch else SUCCESS)
        completed += seqs(settled.completed)
        discarded += seqs(settled.discarded)
    assert invoked == [
        [1, 2, 3, 4, 5, 6, 7, 8],
        [1, 2, 3, 4],
        [5, 6, 7, 8],
        [5, 6],
        [5],
        [6],
        [7, 8],
    ]
    assert completed == [1, 2, 3, 4, 5, 7, 8]
    assert discarded == [6]


def test_splits_consume_no_retry_and_exhaustion_discards_with_the_condition(
    make_records: MakeRecords,
) -> None:
    state = lane(batch_size=2, bisect_batch_on_function_error=True, maximum_retry_attempts=2)
    state.add(make_records(2), now=0)
    state.batch()
    assert state.settle(ERROR).attempt == 0  # split
    results = []
    for _ in range(3):
        state.batch()
        results.append(state.settle(ERROR))
    assert [r.retry for r in results] == [True, True, False]
    assert seqs(results[-1].discarded) == [1]
    assert results[-1].condition == RETRY_ATTEMPTS_EXHAUSTED
    assert results[-1].invocations == 4  # the whole batch, then three times alone


def test_infinite_retries_never_discard(make_records: MakeRecords) -> None:
    state = lane(batch_size=2)
    state.add(make_records(2), now=0)
    for _ in range(50):
        state.batch()
        settled = state.settle(ERROR)
        assert settled.retry and not settled.discarded


def test_retry_count_restarts_when_a_partial_failure_makes_progress(
    make_records: MakeRecords,
) -> None:
    state = lane(batch_size=10, maximum_retry_attempts=1)
    state.add(make_records(5), now=0)
    state.batch()
    assert state.settle(partial(0)).retry  # attempt 1 of record 1
    state.batch()
    settled = state.settle(partial(2))  # records 1-2 done: record 3 starts afresh
    assert settled.retry and seqs(settled.completed) == [1, 2]
    state.batch()
    settled = state.settle(partial(0))  # record 3, second failure: over the quota
    assert seqs(settled.discarded) == [3, 4, 5]
    assert settled.condition == RETRY_ATTEMPTS_EXHAUSTED
    assert settled.invocations == 2  # record 3 was in the second and the third invocation


def test_a_partial_failure_without_retries_reports_the_one_invocation(
    make_records: MakeRecords,
) -> None:
    state = lane(batch_size=10, maximum_retry_attempts=0)
    state.add(make_records(4), now=0)
    state.batch()
    settled = state.settle(partial(1))
    assert seqs(settled.completed) == [1] and seqs(settled.discarded) == [2, 3, 4]
    assert settled.invocations == 1  # approximateInvokeCount of the OnFailure record


def test_records_over_the_maximum_age_are_discarded_before_invocation(
    make_records: MakeRecords,
) -> None:
    state = lane(batch_size=10, maximum_record_age_in_seconds=60)
    records = make_records(4, arrival=1000.0)  # arrivals 1001..1004
    state.add(records, now=0)
    state.batch()
    settled = state.expire(now=1002.5 + 60)
    assert seqs(settled.discarded) == [1, 2]
    assert settled.condition == RECORD_AGE_EXCEEDED
    assert seqs(state.batch()) == [3, 4]
    assert not state.expire(now=1002.5 + 60).discarded


def test_no_age_limit_keeps_old_records(make_records: MakeRecords) -> None:
    state = lane()
    state.add(make_records(2, arrival=0.0), now=0)
    state.batch()
    assert not state.expire(now=10**9).discarded


def test_settle_without_batch_is_a_programming_error() -> None:
    with pytest.raises(RuntimeError, match="batch"):
        lane().settle(SUCCESS)


def test_lanes_keep_a_partition_key_together_and_spread_keys() -> None:
    assert lane_of("anything", 1) == 0
    lanes = {lane_of(f"key-{i}", 4) for i in range(200)}
    assert lanes == {0, 1, 2, 3}
    assert lane_of("key-7", 4) == lane_of("key-7", 4)
