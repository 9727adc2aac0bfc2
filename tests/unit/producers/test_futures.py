"""RecordFuture: completes once, wakes waiters and callbacks, times out cleanly."""

from __future__ import annotations

import threading

import pytest

from producers import DeliveryError, PutResult, RecordFuture
from producers.futures import _Delivery, complete


def test_result_of_an_aggregated_record_carries_its_sub_sequence_number() -> None:
    futs = [RecordFuture() for _ in range(3)]
    for i, fut in enumerate(futs):
        fut._sub = i
    assert not any(f.done() for f in futs)
    complete(futs, _Delivery("shardId-000000000001", "4959", 2, aggregated=True))
    assert all(f.done() for f in futs)
    assert futs[2].result() == PutResult("shardId-000000000001", "4959", 2, 2)
    assert futs[2].result().aggregated
    assert futs[0].exception() is None


def test_plain_record_has_no_sub_sequence_number() -> None:
    fut = RecordFuture()
    complete([fut], _Delivery("shardId-000000000000", "1", 1, aggregated=False))
    assert fut.result().sub_sequence_number is None
    assert not fut.result().aggregated


def test_failed_future_raises_its_error() -> None:
    fut = RecordFuture()
    error = DeliveryError("no", error_code="AccessDeniedException")
    complete([fut], error)
    assert fut.exception() is error
    with pytest.raises(DeliveryError, match="no"):
        fut.result()
    assert "failed: DeliveryError" in repr(fut)


def test_waiter_in_another_thread_is_woken() -> None:
    fut = RecordFuture()
    got: list[PutResult] = []
    waiter = threading.Thread(target=lambda: got.append(fut.result(timeout=10)))
    waiter.start()
    complete([fut], _Delivery("s", "1", 1, aggregated=False))
    waiter.join(timeout=10)
    assert got and got[0].shard_id == "s"


def test_result_times_out_while_pending() -> None:
    fut = RecordFuture()
    with pytest.raises(TimeoutError, match=r"0\.01"):
        fut.result(timeout=0.01)
    assert "pending" in repr(fut)


def test_callbacks_run_once_on_completion_or_at_once_when_done() -> None:
    fut = RecordFuture()
    calls: list[RecordFuture] = []
    fut.add_done_callback(calls.append)
    fut.add_done_callback(lambda _f: 1 / 0)  # a failing callback is logged, not raised
    complete([fut], _Delivery("s", "1", 1, aggregated=False))
    assert calls == [fut]
    fut.add_done_callback(calls.append)
    assert calls == [fut, fut]
