"""Shard prediction from a ListShards answer, with closed shards and the key cache."""

from __future__ import annotations

from typing import Any

import pytest

from producers.shard_map import PredictedShards
from shardflow.hashing import MAX_HASH_KEY, hash_key


def _shard(shard_id: str, start: int, end: int, *, closed: bool = False) -> dict[str, Any]:
    seq: dict[str, str] = {"StartingSequenceNumber": "1"}
    if closed:
        seq["EndingSequenceNumber"] = "9"
    return {
        "ShardId": shard_id,
        "HashKeyRange": {"StartingHashKey": str(start), "EndingHashKey": str(end)},
        "SequenceNumberRange": seq,
    }


HALF = (MAX_HASH_KEY + 1) // 2
RESHARDED = [
    _shard("shardId-0", 0, MAX_HASH_KEY, closed=True),
    _shard("shardId-1", 0, HALF - 1),
    _shard("shardId-2", HALF, MAX_HASH_KEY),
]


def test_keys_map_to_the_open_shard_owning_their_md5() -> None:
    predicted = PredictedShards(RESHARDED)
    assert [s.shard_id for s in predicted.shards] == ["shardId-1", "shardId-2"]
    for key in ("a", "user-42", "ü", "x" * 256):
        expected = 0 if hash_key(key) < HALF else 1
        assert predicted.index_for_key(key) == expected
        assert predicted.cache[key] == expected
    assert predicted.index_for_hash(HALF) == 1
    assert predicted.index_for_hash(HALF - 1) == 0


def test_closed_shards_keep_their_range_for_misplacement_checks() -> None:
    predicted = PredictedShards(RESHARDED)
    closed = predicted.range_of("shardId-0")
    assert closed is not None and MAX_HASH_KEY in closed
    assert predicted.range_of("shardId-9") is None


def test_cache_is_bounded() -> None:
    predicted = PredictedShards(RESHARDED, cache_size=10)
    for i in range(25):
        predicted.index_for_key(f"k{i}")
    assert len(predicted.cache) <= 10
    uncached = PredictedShards(RESHARDED, cache_size=0)
    uncached.index_for_key("k")
    assert uncached.cache == {}


def test_stream_without_open_shards_cannot_be_predicted() -> None:
    with pytest.raises(ValueError, match="open shard"):
        PredictedShards([_shard("shardId-0", 0, MAX_HASH_KEY, closed=True)])
