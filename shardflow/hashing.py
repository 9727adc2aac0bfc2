"""Partition-key hashing and the shard map: which shard a record will land on.

Kinesis maps a record to the open shard whose hash-key range holds
``int(MD5(partition_key))`` (or the explicit hash key, when one is given). Predicting it on
the client lets the producer aggregate only records bound for the same shard, which is what
keeps a KPL aggregate readable by a KCL consumer that owns only that shard.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

#: The largest hash key (2**128 - 1).
MAX_HASH_KEY: Final = (1 << 128) - 1
#: Partition keys are Unicode strings of 1 to 256 characters.
MAX_PARTITION_KEY_LENGTH: Final = 256


def hash_key(partition_key: str) -> int:
    """The 128-bit hash key Kinesis derives from ``partition_key`` (MD5, big-endian)."""
    return int.from_bytes(
        hashlib.md5(partition_key.encode(), usedforsecurity=False).digest(), "big"
    )


def parse_explicit_hash_key(value: str) -> int:
    """Validate an explicit hash key (a decimal string in [0, 2**128 - 1]) and return it.

    Only ASCII digits: ``str.isdigit`` (and ``int``) also take other scripts' digits, which
    Kinesis rejects. Leading zeros parse; send ``str(key)``, the form Kinesis accepts.
    """
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"explicit hash key must be a decimal integer string, got {value!r}")
    key = int(value)
    if key > MAX_HASH_KEY:
        raise ValueError(f"explicit hash key {value} exceeds 2**128 - 1")
    return key


@dataclass(frozen=True, slots=True)
class ShardRange:
    """One open shard and the hash keys it owns (inclusive on both ends)."""

    shard_id: str
    starting_hash_key: int
    ending_hash_key: int

    def __contains__(self, key: object) -> bool:
        return isinstance(key, int) and self.starting_hash_key <= key <= self.ending_hash_key


class ShardMap:
    """The open shards of a stream, searchable by hash key in O(log n).

    Build it from a ListShards response with :meth:`from_shards`. Closed shards (those with
    an ``EndingSequenceNumber``) take no new records and are left out.
    """

    __slots__ = ("_ranges", "_starts")

    def __init__(self, ranges: Iterable[ShardRange]) -> None:
        ordered = sorted(ranges, key=lambda r: r.starting_hash_key)
        if not ordered:
            raise ValueError("a shard map needs at least one open shard")
        self._ranges: tuple[ShardRange, ...] = tuple(ordered)
        self._starts: list[int] = [r.starting_hash_key for r in ordered]

    @classmethod
    def from_shards(cls, shards: Iterable[Mapping[str, Any]]) -> ShardMap:
        """From the ``Shards`` list of ListShards or DescribeStream; open shards only."""
        return cls(
            ShardRange(
                s["ShardId"],
                int(s["HashKeyRange"]["StartingHashKey"]),
                int(s["HashKeyRange"]["EndingHashKey"]),
            )
            for s in shards
            if "EndingSequenceNumber" not in s.get("SequenceNumberRange", {})
        )

    @property
    def shards(self) -> tuple[ShardRange, ...]:
        """The open shards, by starting hash key."""
        return self._ranges

    def __len__(self) -> int:
        return len(self._ranges)

    def shard_for_hash(self, key: int) -> ShardRange:
        """The shard owning hash key ``key``."""
        i = bisect.bisect_right(self._starts, key) - 1
        rng = self._ranges[max(i, 0)]
        if key not in rng:
            raise LookupError(f"no open shard owns hash key {key} (map has a gap)")
        return rng

    def shard_for_key(self, partition_key: str) -> ShardRange:
        """The shard a record with ``partition_key`` (and no explicit hash key) lands on."""
        return self.shard_for_hash(hash_key(partition_key))
