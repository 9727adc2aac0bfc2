"""Shard prediction: which open shard a record will land on, from the stream's shard list.

Built from a ListShards answer (:meth:`PredictedShards.from_shards`), it maps a partition
key (MD5, see :mod:`shardflow.hashing`) or an explicit hash key to the index of an open
shard, remembering the answer for recently seen partition keys so a hot key is hashed
once. It also keeps the hash ranges of closed shards, which the producer needs when
Kinesis reports a shard other than the predicted one (after a resharding the producer has
not seen yet).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shardflow.hashing import ShardMap, ShardRange, hash_key

__all__ = ["PredictedShards"]


class PredictedShards:
    """The open shards in hash-key order, and a bounded cache of partition key -> index."""

    __slots__ = ("_cache", "_cache_size", "_index", "_map", "_ranges")

    def __init__(self, shards: Iterable[Mapping[str, Any]], *, cache_size: int = 65536) -> None:
        shard_list = list(shards)
        self._map = ShardMap.from_shards(shard_list)
        self._index = {rng.shard_id: i for i, rng in enumerate(self._map.shards)}
        self._ranges: dict[str, ShardRange] = {
            s["ShardId"]: ShardRange(
                s["ShardId"],
                int(s["HashKeyRange"]["StartingHashKey"]),
                int(s["HashKeyRange"]["EndingHashKey"]),
            )
            for s in shard_list
        }
        self._cache: dict[str, int] = {}
        self._cache_size = cache_size

    @property
    def cache(self) -> dict[str, int]:
        """Partition key -> shard index for recently seen keys: look here first (a dict
        lookup), then call :meth:`index_for_key`, which fills it. Do not modify it."""
        return self._cache

    @property
    def shards(self) -> tuple[ShardRange, ...]:
        """The open shards, by starting hash key; a shard's index is its position here."""
        return self._map.shards

    def __len__(self) -> int:
        return len(self._map)

    def index_for_key(self, partition_key: str) -> int:
        """Index of the open shard a record with this partition key lands on."""
        index = self._cache.get(partition_key)
        if index is None:
            if len(self._map) == 1:
                return 0
            index = self._index[self._map.shard_for_hash(hash_key(partition_key)).shard_id]
            if self._cache_size:
                if len(self._cache) >= self._cache_size:
                    # Clearing beats LRU bookkeeping on every hit; hot keys come back at once.
                    self._cache.clear()
                self._cache[partition_key] = index
        return index

    def index_for_hash(self, key: int) -> int:
        """Index of the open shard owning hash key ``key``."""
        return self._index[self._map.shard_for_hash(key).shard_id]

    def range_of(self, shard_id: str) -> ShardRange | None:
        """Hash range of any shard ListShards named, open or closed (None if unknown)."""
        return self._ranges.get(shard_id)
