"""Where a shard can be checkpointed when its lanes finish records out of order (pure code).

Records are registered in shard order as they are read; lanes complete them in any
interleaving. The checkpoint is the last record of the completed prefix: resuming after it
neither loses nor repeats a record of a lane that was behind. Each lane's own high-water
mark is kept too, so a restart with the same parallelization factor skips records a lane
that was ahead had already completed, instead of delivering them a second time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from shardflow_tools.lambda_esm.events import StreamRecord
from shardflow_tools.lambda_esm.lane import lane_of


class ShardProgress:
    """Completion bookkeeping of one shard."""

    __slots__ = ("_checkpoint", "_done", "_factor", "_lane_marks", "_order")

    def __init__(
        self,
        checkpoint: str | None,
        *,
        parallelization_factor: int,
        lane_marks: Mapping[int, str] | None = None,
    ) -> None:
        self._checkpoint = checkpoint
        self._factor = parallelization_factor
        floor = int(checkpoint) if checkpoint else -1
        self._lane_marks: dict[int, int] = {
            lane: int(seq) for lane, seq in (lane_marks or {}).items() if int(seq) > floor
        }
        self._order: deque[str] = deque()
        self._done: set[str] = set()

    @property
    def checkpoint(self) -> str | None:
        """Sequence number every record up to which is done (None: nothing yet)."""
        return self._checkpoint

    @property
    def lane_marks(self) -> dict[int, str]:
        """Per lane, the last record it completed beyond the checkpoint."""
        floor = int(self._checkpoint) if self._checkpoint else -1
        return {lane: str(seq) for lane, seq in self._lane_marks.items() if seq > floor}

    @property
    def outstanding(self) -> int:
        """Records read but not yet done."""
        return len(self._order) - len(self._done)

    def read(self, records: Iterable[StreamRecord]) -> list[StreamRecord]:
        """Register records read from the shard; return those still to deliver.

        Records a lane completed before a restart (at or below its mark) are done already
        and are not returned.
        """
        fresh: list[StreamRecord] = []
        for record in records:
            self._order.append(record.sequence_number)
            mark = self._lane_marks.get(lane_of(record.partition_key, self._factor))
            if mark is not None and record.seq <= mark:
                self._done.add(record.sequence_number)
            else:
                fresh.append(record)
        self._advance()
        return fresh

    def complete(self, records: Iterable[StreamRecord]) -> bool:
        """Mark records done; True when the checkpoint moved."""
        for record in records:
            self._done.add(record.sequence_number)
            lane = lane_of(record.partition_key, self._factor)
            if record.seq > self._lane_marks.get(lane, -1):
                self._lane_marks[lane] = record.seq
        return self._advance()

    def _advance(self) -> bool:
        moved = False
        while self._order and self._order[0] in self._done:
            seq = self._order.popleft()
            self._done.discard(seq)
            self._checkpoint = seq
            moved = True
        return moved
