"""What an Iceberg commit covers (consumers.sink.iceberg.ranges): pure code."""

from __future__ import annotations

import pytest

from consumers import Position
from consumers.sink.iceberg.config import IcebergConfig
from consumers.sink.iceberg.ranges import Commit, pieces, shard_ranges
from shardflow.errors import ConfigError


def test_summary_round_trip_with_several_ranges() -> None:
    commit = Commit(
        "s",
        "shard-1",
        "w:1..9",
        ((Position("1"), Position("3", 2)), (Position("7"), Position("9"))),
    )
    summary = commit.summary(events=5, skipped=1)
    assert summary["shardflow.first"] == "1" and summary["shardflow.last"] == "9"
    assert Commit.from_summary(summary) == commit


def test_snapshots_the_sink_did_not_make_are_ignored() -> None:
    assert Commit.from_summary({"operation": "append"}) is None


def test_shard_ranges_filters_stream_shard_and_floor() -> None:
    mine = Commit("s", "a", "1", ((Position("10"), Position("20")),))
    old = Commit("s", "a", "2", ((Position("1"), Position("5")),))
    other = Commit("s", "b", "3", ((Position("10"), Position("20")),))
    assert shard_ranges([mine, old, other], "s", "a", ending_from=Position("6")) == [
        ((10, -1), (20, -1), "1")
    ]


def test_pieces_leave_out_covered_rows_and_stop_before_a_later_range() -> None:
    keys = [(i, -1) for i in range(1, 11)]
    ranges = [((4, -1), (6, -1), "x")]
    assert pieces(keys, (12, -1), ranges) == [(0, 3, (3, -1)), (6, 10, (12, -1))]
    # a range beginning after the last row but before the flush's last position
    assert pieces(keys, (12, -1), [((11, -1), (30, -1), "y")]) == [(0, 10, (10, -1))]
    assert pieces(keys, (10, -1), [((1, -1), (10, -1), "z")]) == []


def test_config_validates_names() -> None:
    with pytest.raises(ConfigError, match=r"iceberg\.table"):
        IcebergConfig(table="events")
    with pytest.raises(ConfigError, match=r"iceberg\.catalog"):
        IcebergConfig(catalog="hive")  # type: ignore[arg-type]
    assert IcebergConfig.from_env().identifier == ("shardflow", "events")
