"""Partition-key hashing and shard lookup match what Kinesis does."""

from __future__ import annotations

import hashlib

import pytest

from shardflow.hashing import MAX_HASH_KEY, ShardMap, hash_key, parse_explicit_hash_key


def _shards(n: int) -> list[dict[str, object]]:
    step = (MAX_HASH_KEY + 1) // n
    out = []
    for i in range(n):
        end = MAX_HASH_KEY if i == n - 1 else (i + 1) * step - 1
        out.append(
            {
                "ShardId": f"shardId-{i:012d}",
                "HashKeyRange": {"StartingHashKey": str(i * step), "EndingHashKey": str(end)},
                "SequenceNumberRange": {"StartingSequenceNumber": "1"},
            }
        )
    return out


def test_hash_key_is_md5_big_endian() -> None:
    assert hash_key("user-42") == int(hashlib.md5(b"user-42").hexdigest(), 16)
    assert hash_key("ü") == int(hashlib.md5("ü".encode()).hexdigest(), 16)


def test_lookup_covers_edges() -> None:
    smap = ShardMap.from_shards(_shards(4))
    assert smap.shard_for_hash(0).shard_id == "shardId-000000000000"
    assert smap.shard_for_hash(MAX_HASH_KEY).shard_id == "shardId-000000000003"
    boundary = int(_shards(4)[1]["HashKeyRange"]["StartingHashKey"])  # type: ignore[index]
    assert smap.shard_for_hash(boundary - 1).shard_id == "shardId-000000000000"
    assert smap.shard_for_hash(boundary).shard_id == "shardId-000000000001"


def test_closed_shards_are_left_out() -> None:
    shards = _shards(2)
    closed = {
        "ShardId": "shardId-000000000009",
        "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": str(MAX_HASH_KEY)},
        "SequenceNumberRange": {"StartingSequenceNumber": "1", "EndingSequenceNumber": "9"},
    }
    smap = ShardMap.from_shards([closed, *shards])
    assert [s.shard_id for s in smap.shards] == ["shardId-000000000000", "shardId-000000000001"]


def test_gap_is_reported() -> None:
    shards = _shards(2)[:1]
    smap = ShardMap.from_shards(shards)
    with pytest.raises(LookupError, match="gap"):
        smap.shard_for_hash(MAX_HASH_KEY)


def test_explicit_hash_key_validation() -> None:
    assert parse_explicit_hash_key("0") == 0
    assert parse_explicit_hash_key(str(MAX_HASH_KEY)) == MAX_HASH_KEY
    # "\u0663" (ARABIC-INDIC DIGIT THREE) passes str.isdigit() and int(); Kinesis refuses it.
    for bad in ("-1", "abc", str(MAX_HASH_KEY + 1), "", "\u0663", " 1"):
        with pytest.raises(ValueError, match="explicit hash key"):
            parse_explicit_hash_key(bad)
