"""The shard checkpoint when lanes finish out of order, and restart without redelivery."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shardflow_tools.lambda_esm.lane import lane_of
from shardflow_tools.lambda_esm.progress import ShardProgress

MakeRecords = Callable[..., list[Any]]


def test_checkpoint_is_the_end_of_the_completed_prefix(make_records: MakeRecords) -> None:
    records = make_records(5)
    progress = ShardProgress(None, parallelization_factor=2)
    assert progress.read(records) == records
    assert not progress.complete([records[1], records[3]])
    assert progress.checkpoint is None
    assert progress.complete([records[0]])
    assert progress.checkpoint == records[1].sequence_number
    progress.complete([records[2], records[4]])
    assert progress.checkpoint == records[4].sequence_number
    assert progress.outstanding == 0


def test_lane_marks_skip_records_a_lane_finished_before_a_restart(
    make_records: MakeRecords,
) -> None:
    factor = 4
    records = make_records(40)
    first = ShardProgress(None, parallelization_factor=factor)
    first.read(records)
    slow_lane = lane_of(records[0].partition_key, factor)
    # Every lane but the slow one finished everything; the slow one nothing.
    done = [r for r in records if lane_of(r.partition_key, factor) != slow_lane]
    first.complete(done)
    assert first.checkpoint is None
    marks = first.lane_marks
    assert slow_lane not in marks

    second = ShardProgress(first.checkpoint, parallelization_factor=factor, lane_marks=marks)
    again = second.read(records)
    assert again == [r for r in records if lane_of(r.partition_key, factor) == slow_lane]
    second.complete(again)
    assert second.checkpoint == records[-1].sequence_number
    assert second.lane_marks == {}  # all at or below the checkpoint


def test_marks_at_or_below_the_checkpoint_are_dropped(make_records: MakeRecords) -> None:
    records = make_records(3)
    progress = ShardProgress(
        records[2].sequence_number,
        parallelization_factor=2,
        lane_marks={0: records[1].sequence_number},
    )
    assert progress.lane_marks == {}
