"""The Iceberg output: per-shard writers that commit each flush to an Iceberg table once.

:class:`IcebergShardWriter` buffers and cuts flushes exactly as the Hive layout's
:class:`~consumers.sink.ShardWriter` does (same boundaries, same ``resume_from``, same
:attr:`~consumers.sink.ShardWriter.checkpointable`); where that writer stages objects and
commits a shard head, this one writes the flush's Parquet data files and appends them in
one snapshot whose summary names the stream, the shard and the range
(:mod:`consumers.sink.iceberg.ranges`). The table is the commit log:

* Before its first record the writer reads the ranges the table's snapshots hold for its
  shard and does not write them again (a replay, a retried or bisected Lambda batch).
* Each flush's commit re-checks, in the same optimistic transaction as the append
  (:mod:`consumers.sink.iceberg.commit`), and leaves out rows another writer committed in
  the meantime (a zombie and its successor): such a writer *continues after what is
  durable*: no event twice, none lost, and no writer is fenced (FencedError is never
  raised by this writer). A flush wholly committed by someone else commits nothing and
  deletes its data files.

Readers see committed snapshots only, so a crash at any point leaves nothing half visible;
data files written by a process that died before its commit are orphans for Iceberg's
orphan-file cleanup. See docs/iceberg.md.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from consumers.errors import SinkError
from consumers.records import Event, Origin, Position
from consumers.sink.config import SinkConfig
from consumers.sink.formats import arrow_arrays
from consumers.sink.iceberg.catalog import arrow_schema, open_catalog, open_table
from consumers.sink.iceberg.commit import PendingFlush, TableCommitter
from consumers.sink.iceberg.config import IcebergConfig
from consumers.sink.manifest import Manifest, WrittenObject
from consumers.sink.writer import FlushResult, ShardWriter, _Sealed
from shardflow import envelope

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

logger = logging.getLogger(__name__)


class IcebergShardWriter(ShardWriter):
    """A :class:`~consumers.sink.ShardWriter` whose flushes are Iceberg commits; see the
    module docstring. Made by :meth:`IcebergSink.shard`."""

    def __init__(
        self, sink: IcebergSink, shard_id: str, *, resume_from: Position | None = None
    ) -> None:
        self._init_state(sink.stream, shard_id, sink.config, resume_from)
        self._table_sink = sink
        self.writer_id = uuid.uuid4().hex[:16]
        self._committer = TableCommitter(sink.table, stream=sink.stream, shard_id=shard_id)
        self._pending: PendingFlush | None = None

    def _load_manifests(self, start: Position) -> None:
        committed = self._committer.load_committed(start)
        if committed:
            logger.info(
                "shard %s/%s: %d range(s) at or after %s already in the table; not rewriting",
                self.stream,
                self.shard_id,
                len(committed),
                start,
            )
        self._ranges = [(a, b) for a, b, _ in committed]
        self._range_idx = 0

    def _seal(self) -> _Sealed:
        import pyarrow as pa  # noqa: PLC0415

        buf = self._buffer
        first, last = buf.first, buf.last
        assert first is not None and last is not None
        schema = arrow_schema(self._config.schema)
        tables = []
        objects = []
        for partition, columns in buf.items():
            cols = columns.as_dict(self.stream, self.shard_id)
            n = len(columns)
            for name, value in partition:
                cols[name] = [int(value) if name == "hr" else value] * n
            tables.append(
                pa.Table.from_arrays(arrow_arrays(cols, schema, self._config.schema), schema=schema)
            )
            objects.append(WrittenObject("", partition, n, 0))
        rows = pa.concat_tables(tables)
        keys = [
            (int(seq), -1 if sub is None else sub)
            for seq, sub in zip(
                rows.column("sequence_number").to_pylist(),
                rows.column("sub_sequence_number").to_pylist(),
                strict=True,
            )
        ]
        order = sorted(range(len(keys)), key=keys.__getitem__)
        rows = rows.take(pa.array(order, type=pa.int64()))
        keys = [keys[i] for i in order]
        self._pending = PendingFlush(
            commit_id=f"{self.writer_id}:{first}..{last}",
            first=first,
            last=last,
            rows=rows,
            keys=keys,
            skipped=buf.skipped,
        )
        manifest = Manifest(
            stream=self.stream,
            shard_id=self.shard_id,
            first=first,
            last=last,
            format="iceberg",
            records=buf.count,
            skipped=buf.skipped,
            bytes=buf.bytes,
            first_arrival_time=envelope.format_time(buf.first_arrival_ms),
            last_arrival_time=envelope.format_time(buf.last_arrival_ms),
            objects=tuple(objects),
        )
        buf.clear()
        return _Sealed(manifest, [])

    def _finish(self) -> FlushResult:
        sealed, pending = self._sealed, self._pending
        assert sealed is not None and pending is not None
        try:
            outcome = self._committer.commit(pending)
        except SinkError:
            logger.exception(
                "shard %s/%s: commit %s..%s failed; keeping its %d event(s) for a retry",
                self.stream,
                self.shard_id,
                pending.first,
                pending.last,
                len(pending.keys),
            )
            raise
        self._sealed = self._pending = None
        spec_names = outcome.partition_names
        objects = tuple(
            WrittenObject(
                f.file_path,
                tuple((n, str(v)) for n, v in zip(spec_names, f.partition, strict=False)),
                f.record_count,
                f.file_size_in_bytes,
            )
            for f in outcome.files
        )
        result = FlushResult(
            self.stream,
            self.shard_id,
            pending.first,
            pending.last,
            objects,
            outcome.records,
            pending.skipped,
            f"iceberg:{self._table_sink.iceberg.table}@{outcome.snapshot_id}",
        )
        self.flushes.append(result)
        if self._durable is None or self._durable < pending.last:
            self._durable = pending.last
        return result


class IcebergSink:
    """The output of one stream as an Iceberg table; hands out an
    :class:`IcebergShardWriter` per shard. ``S3Sink(..., config=SinkConfig(format="iceberg"))``
    makes one of these itself.

    ``bucket`` and ``config.prefix`` place a new table's files when ``iceberg.warehouse`` is
    not set; ``iceberg`` names the catalog and table (default: from the environment);
    ``catalog`` replaces the catalog built from it (a pyiceberg ``Catalog``).
    """

    def __init__(
        self,
        bucket: str,
        *,
        stream: str,
        config: SinkConfig | None = None,
        iceberg: IcebergConfig | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        if not stream:
            raise ValueError("stream must name the Kinesis stream the records come from")
        self.bucket = bucket
        self.stream = stream
        self.config = config or SinkConfig(format="iceberg")
        self.iceberg = iceberg or IcebergConfig.from_env()
        self._catalog = catalog
        self._opened = False
        self._lock = threading.Lock()

    @property
    def catalog(self) -> Catalog:
        """The catalog (built on first use)."""
        with self._lock:
            if self._catalog is None:
                self._catalog = open_catalog(
                    self.iceberg, bucket=self.bucket, prefix=self.config.prefix
                )
            return self._catalog

    def table(self) -> Table:
        """The table as the catalog has it now (created on first use when absent)."""
        catalog = self.catalog
        if not self._opened:
            table = open_table(catalog, self.iceberg, self.config.schema)
            self._opened = True
            return table
        return catalog.load_table(self.iceberg.identifier)

    def shard(self, shard_id: str, *, resume_from: Position | None = None) -> ShardWriter:
        """A writer for one shard, resuming after ``resume_from`` (the checkpoint)."""
        return IcebergShardWriter(self, shard_id, resume_from=resume_from)

    def write_batch(
        self, shard_id: str, events: Sequence[Event], *, skipped: Sequence[Origin] = ()
    ) -> list[FlushResult]:
        """Write exactly these events of one shard now; see
        :meth:`~consumers.sink.ShardWriter.write_batch`."""
        return self.shard(shard_id).write_batch(events, skipped=skipped)
