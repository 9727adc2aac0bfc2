"""What each commit to the Iceberg table covers, as its snapshot summary records it.

Pure code. Every append the sink makes carries, in its snapshot summary, the stream, the
shard, the first and last position of the flush and the ranges of the shard it wrote (one,
or several when parts of the flush had been committed by another writer meanwhile), plus
the id of the commit (the writer and the flush), by which a writer recognises its own
commit after a lost answer. The ancestors of the table's current snapshot are therefore the
table's record of what is durable, as the manifests are for the Hive layout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from consumers.records import Position

STREAM: Final = "shardflow.stream"
SHARD: Final = "shardflow.shard"
FIRST: Final = "shardflow.first"
LAST: Final = "shardflow.last"
RANGES: Final = "shardflow.ranges"
COMMIT: Final = "shardflow.commit"
EVENTS: Final = "shardflow.events"
SKIPPED: Final = "shardflow.skipped"

Key = tuple[int, int]


def key_of(position: Position) -> Key:
    """The sort key of a position (what :attr:`consumers.Position.key` gives)."""
    return position.key


@dataclass(frozen=True, slots=True)
class Commit:
    """One append of the sink: the shard ranges ``[first, last]`` it made durable."""

    stream: str
    shard_id: str
    commit_id: str
    ranges: tuple[tuple[Position, Position], ...]

    def summary(self, *, events: int, skipped: int) -> dict[str, str]:
        """The snapshot summary properties of this commit."""
        return {
            STREAM: self.stream,
            SHARD: self.shard_id,
            FIRST: str(self.ranges[0][0]),
            LAST: str(self.ranges[-1][1]),
            RANGES: ",".join(f"{a}..{b}" for a, b in self.ranges),
            COMMIT: self.commit_id,
            EVENTS: str(events),
            SKIPPED: str(skipped),
        }

    @classmethod
    def from_summary(cls, summary: Mapping[str, str | None]) -> Commit | None:
        """The commit a snapshot summary records; None for a snapshot the sink did not make
        (a compaction, another application's append)."""
        stream, shard, commit_id = summary.get(STREAM), summary.get(SHARD), summary.get(COMMIT)
        first, last = summary.get(FIRST), summary.get(LAST)
        if not stream or not shard or not commit_id or not first or not last:
            return None
        text = summary.get(RANGES) or f"{first}..{last}"
        ranges = []
        for part in text.split(","):
            a, _, b = part.partition("..")
            ranges.append((Position.parse(a), Position.parse(b)))
        return cls(stream, shard, commit_id, tuple(ranges))


def shard_ranges(
    commits: Iterable[Commit], stream: str, shard_id: str, *, ending_from: Position | None = None
) -> list[tuple[Key, Key, str]]:
    """``(first, last, commit id)`` of every range of ``stream``/``shard_id`` in ``commits``
    that ends at or after ``ending_from``, in stream order."""
    floor = None if ending_from is None else ending_from.key
    out = [
        (a.key, b.key, c.commit_id)
        for c in commits
        if c.stream == stream and c.shard_id == shard_id
        for a, b in c.ranges
        if floor is None or b.key >= floor
    ]
    out.sort()
    return out


def covered(key: Key, ranges: Sequence[tuple[Key, Key, str]]) -> bool:
    """Is ``key`` inside one of ``ranges``?"""
    return any(a <= key <= b for a, b, _ in ranges)


def pieces(
    keys: Sequence[Key], last: Key, ranges: Sequence[tuple[Key, Key, str]]
) -> list[tuple[int, int, Key]]:
    """The flush's rows outside ``ranges``, as runs ``(start, stop, last key)``: row indexes
    ``start:stop`` into ``keys`` (ascending) and the last position the run covers. The final
    run reaches to ``last`` (the flush's last position, maybe a dead-lettered one) unless
    a range begins in between; the others end at their last row."""
    runs: list[tuple[int, int, Key]] = []
    start: int | None = None
    for i, key in enumerate(keys):
        if covered(key, ranges):
            if start is not None:
                runs.append((start, i, keys[i - 1]))
                start = None
        elif start is None:
            start = i
    if start is not None:
        end = keys[-1]
        if not any(end < a <= last for a, _, _ in ranges):
            end = last
        runs.append((start, len(keys), end))
    return runs
