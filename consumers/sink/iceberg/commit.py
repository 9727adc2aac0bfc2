"""One shard's commits to the Iceberg table: the check and the append as one optimistic
transaction, through the sink's own compare-and-swap loop.

Each attempt reloads the table, reads what the ancestors of its current snapshot cover
(:mod:`consumers.sink.iceberg.ranges`), and appends only the flush's rows no commit covers,
against exactly the metadata it checked: the append's requirement (the ``main`` branch
still at the snapshot read) makes the catalog refuse it if anything was committed in
between. A refused attempt (``CommitFailedException``) checks again. pyiceberg's own retry,
which would re-apply the append to newer metadata without this check, is switched off for
every attempt (``commit.retry.num-retries = 0`` on the metadata the transaction starts
from), whatever the table's properties say.

Data files are written once per set of rows and reused by later attempts; files of a flush
that ends up not committing them (covered by another writer) are deleted. An unknown
outcome (the catalog did not answer) keeps them: the retry recognises a commit that landed
by its id in the snapshot summary.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from consumers.errors import SinkError
from consumers.records import Position
from consumers.sink.iceberg import ranges
from consumers.sink.iceberg.catalog import NO_RETRY

if TYPE_CHECKING:
    from pyiceberg.table import Table

logger = logging.getLogger(__name__)

#: Attempts of one flush's commit lost to other commits in a row before giving up (the
#: flush stays sealed: the writer's next call tries again).
COMMIT_ATTEMPTS: Final = 12
_BASE_DELAY: Final = 0.02
_MAX_DELAY: Final = 1.0


def _key_position(key: ranges.Key) -> Position:
    seq, sub = key
    return Position(str(seq), None if sub < 0 else sub)


@dataclass(slots=True)
class PendingFlush:
    """A sealed flush on its way into the table: its rows (an Arrow table in stream order)
    with their position keys, its range and commit id, and the data files written for the
    rows currently chosen."""

    commit_id: str
    first: Position
    last: Position
    rows: Any  # pyarrow.Table, sorted by position
    keys: list[ranges.Key]
    skipped: int
    files: list[Any] = field(default_factory=list)  # pyiceberg DataFile
    files_for: tuple[tuple[int, int, ranges.Key], ...] | None = None
    files_spec: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class CommitOutcome:
    """What a flush's commit did: the data files and rows it committed (none when other
    writers had committed all of it), the ranges, and the snapshot id."""

    files: tuple[Any, ...]
    records: int
    ranges: tuple[tuple[Position, Position], ...]
    snapshot_id: int | None
    partition_names: tuple[str, ...] = ()


class TableCommitter:
    """Commits one shard's flushes to the table (``load`` gives its current state)."""

    def __init__(self, load: Callable[[], Table], *, stream: str, shard_id: str) -> None:
        self._load = load
        self.stream = stream
        self.shard_id = shard_id

    def committed(self, table: Table, ending_from: Position | None) -> list[tuple[Any, Any, str]]:
        """This shard's ranges the table's current snapshot and its ancestors cover."""
        from pyiceberg.table.snapshots import ancestors_of  # noqa: PLC0415

        commits = []
        for snapshot in ancestors_of(table.current_snapshot(), table.metadata):
            summary = snapshot.summary
            if summary is None:
                continue
            commit = ranges.Commit.from_summary(
                {
                    k: summary.get(k)
                    for k in (
                        ranges.STREAM,
                        ranges.SHARD,
                        ranges.COMMIT,
                        ranges.FIRST,
                        ranges.LAST,
                        ranges.RANGES,
                    )
                }
            )
            if commit is not None:
                commits.append(commit)
        return ranges.shard_ranges(commits, self.stream, self.shard_id, ending_from=ending_from)

    def load_committed(self, ending_from: Position | None) -> list[tuple[Any, Any, str]]:
        """:meth:`committed` on the table as it is now."""
        return self.committed(self._io("load the table", self._load), ending_from)

    def commit(self, flush: PendingFlush) -> CommitOutcome:
        """Append the rows of ``flush`` no commit covers yet, in one snapshot; see the
        module docstring. SinkError when the catalog or S3 fails or the commit kept losing
        (``flush`` keeps its data files for the retry)."""
        from pyiceberg.exceptions import CommitFailedException  # noqa: PLC0415

        for attempt in range(COMMIT_ATTEMPTS):
            if attempt:
                delay = min(_MAX_DELAY, _BASE_DELAY * 2**attempt)
                time.sleep(random.uniform(delay / 2, delay))
            table = self._io("load the table", self._load)
            committed = self.committed(table, flush.first)
            if any(cid == flush.commit_id for _, _, cid in committed):
                logger.info(
                    "shard %s/%s: commit %s had landed", self.stream, self.shard_id, flush.commit_id
                )
                return self._outcome(flush, None, table)
            runs = tuple(ranges.pieces(flush.keys, flush.last.key, committed))
            if not runs:
                logger.info(
                    "shard %s/%s: %s..%s already committed by another writer; not writing it",
                    self.stream,
                    self.shard_id,
                    flush.first,
                    flush.last,
                )
                self.discard(flush, table)
                return CommitOutcome((), 0, (), None)
            spec = (table.spec().spec_id, table.schema().schema_id)
            if flush.files_for != runs or flush.files_spec != spec:
                self.discard(flush, table)
                self._write(flush, table, runs)
                flush.files_for, flush.files_spec = runs, spec
            try:
                snapshot_id = self._append(flush, table, runs)
            except CommitFailedException as exc:
                logger.info(
                    "shard %s/%s: commit of %s..%s lost to another (%s); checking again",
                    self.stream,
                    self.shard_id,
                    flush.first,
                    flush.last,
                    exc,
                )
                continue
            return self._outcome(flush, snapshot_id, table)
        raise SinkError(
            f"the commit lost to other commits {COMMIT_ATTEMPTS} times in a row",
            stream=self.stream,
            shard_id=self.shard_id,
            sequence_number=flush.first.sequence_number,
        )

    # ------------------------------------------------------------------ internals

    def _io(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except SinkError:
            raise
        except Exception as exc:  # pyiceberg, SQLAlchemy, pyarrow's S3 and boto3 errors
            raise SinkError(f"{what}: {exc!r}", stream=self.stream, shard_id=self.shard_id) from exc

    def _ranges_of(
        self, flush: PendingFlush, runs: Sequence[tuple[int, int, ranges.Key]]
    ) -> tuple[tuple[Position, Position], ...]:
        return tuple((_key_position(flush.keys[a]), _key_position(end)) for a, _, end in runs)

    def _subset(self, flush: PendingFlush, runs: Sequence[tuple[int, int, ranges.Key]]) -> Any:
        import pyarrow as pa  # noqa: PLC0415

        if len(runs) == 1 and runs[0][0] == 0 and runs[0][1] == len(flush.keys):
            return flush.rows
        return pa.concat_tables([flush.rows.slice(a, b - a) for a, b, _ in runs])

    def _write(
        self, flush: PendingFlush, table: Table, runs: Sequence[tuple[int, int, ranges.Key]]
    ) -> None:
        from pyiceberg.io.pyarrow import _dataframe_to_data_files  # noqa: PLC0415

        subset = self._subset(flush, runs)
        flush.files = self._io(
            "write data files",
            lambda: list(_dataframe_to_data_files(table.metadata, subset, table.io, uuid.uuid4())),
        )

    def _append(
        self, flush: PendingFlush, table: Table, runs: Sequence[tuple[int, int, ranges.Key]]
    ) -> int | None:
        from pyiceberg.exceptions import CommitFailedException  # noqa: PLC0415
        from pyiceberg.table import Table as IcebergTable  # noqa: PLC0415

        metadata = table.metadata.model_copy(
            update={"properties": {**table.metadata.properties, **NO_RETRY}}
        )
        base = IcebergTable(
            table.name(),
            metadata=metadata,
            metadata_location=table.metadata_location,
            io=table.io,
            catalog=table.catalog,
        )
        commit = ranges.Commit(
            self.stream, self.shard_id, flush.commit_id, self._ranges_of(flush, runs)
        )
        summary = commit.summary(events=sum(b - a for a, b, _ in runs), skipped=flush.skipped)
        tx = base.transaction()
        try:
            with tx.update_snapshot(snapshot_properties=summary).fast_append() as append:
                for data_file in flush.files:
                    append.append_data_file(data_file)
            current = tx.commit_transaction().current_snapshot()
        except CommitFailedException:
            raise
        except Exception as exc:
            raise SinkError(
                f"commit {flush.first}..{flush.last} (outcome unknown: retried as it is): {exc!r}",
                stream=self.stream,
                shard_id=self.shard_id,
                sequence_number=flush.first.sequence_number,
            ) from exc
        return None if current is None else current.snapshot_id

    def _outcome(self, flush: PendingFlush, snapshot_id: int | None, table: Table) -> CommitOutcome:
        runs = flush.files_for or ()
        return CommitOutcome(
            tuple(flush.files),
            sum(b - a for a, b, _ in runs),
            self._ranges_of(flush, runs),
            snapshot_id,
            tuple(f.name for f in table.spec().fields),
        )

    def discard(self, flush: PendingFlush, table: Table) -> None:
        """Delete the data files written for ``flush`` (never committed: a lost file is
        left to Iceberg's orphan-file cleanup)."""
        for data_file in flush.files:
            try:
                table.io.delete(data_file.file_path)
            except Exception:
                logger.warning("could not delete uncommitted data file %s", data_file.file_path)
        flush.files, flush.files_for, flush.files_spec = [], None, None
