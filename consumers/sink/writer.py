"""The S3 sink: per-shard writers that flush Athena-ready objects exactly once.

A :class:`ShardWriter` consumes one shard's records in stream order (:meth:`~ShardWriter.add`
an event, :meth:`~ShardWriter.skip` a dead-lettered position) and flushes a contiguous
range of the shard at a time: one object per partition, and a manifest naming the range
and the objects. :attr:`~ShardWriter.checkpointable` is the highest position such that
everything at or before it is in S3 (or dead-lettered): the only position a consumer may
checkpoint.

Exactly once under replay:

* Keys are a pure function of (stream, shard, first and last position of the flush), and
  boundaries come from the records (bytes, count, arrival-time span since the flush began),
  so replaying the same records rewrites the same objects.
* Flushes whose boundaries a replay cannot reproduce (shutdown, the end of a Lambda
  invocation, changed buffer settings) are covered by the manifests: before consuming, a
  writer lists the manifests of flushes ending at or after the first position it sees and
  treats every position inside their ranges as already durable. A record that was written
  is never written again, however the replayed batch is split.

Exactly once when writers overlap (a zombie that lost its lease and its successor, a slow
Lambda invocation and its retry, a runner started twice): the fenced commit protocol. Each
shard has a *head* object (``_manifests/STREAM/SHARD.head.json``: generation, owner, latest
commit), changed only by conditional PUTs:

1. **Takeover** (before a writer's first record): GET the head; PUT it back with
   ``generation + 1`` and the writer's random id, ``IfMatch`` the ETag read
   (``IfNoneMatch="*"`` for a shard's first head). From then on every writer that read an
   older head is fenced. A 412 means another writer committed or took over in between: read
   the head again and retry (a writer that is *behind* continues after what is durable).
   Then roll the head's latest commit forward (step 4) unless its manifest exists, delete
   staged objects no commit refers to, and list the manifests (the durable ranges).
2. **Stage**: PUT the flush's objects under hidden keys that name the writer
   (``_manifests/STREAM/SHARD.staging/WRITER/...``). Nothing is visible yet.
3. **Commit**: PUT the head with the flush's manifest as its latest commit, ``IfMatch`` the
   ETag of the head this writer last wrote. This is the one point where a flush lands.
   A 412 means another writer took the shard over: unless an earlier attempt of this very
   commit landed (the head or a manifest holds it), the flush is refused: its staged objects
   are deleted and :class:`~consumers.errors.FencedError` is raised (and again on every
   later call); nothing of the range became visible or checkpointable. A 409 is retried.
   An unknown answer (timeout) keeps the flush sealed: the retry re-sends the same commit.
4. **Roll forward**: CopyObject each staged object to its visible key, PUT the manifest,
   delete the staged copies. Idempotent, and done by whoever comes next if the writer dies
   after its commit: the next flush of the same writer, or the next writer's takeover. A
   flush is returned, and :attr:`~ShardWriter.checkpointable` moves, only after this step.

Because a writer commits only after its previous commit rolled forward, only the head's
latest commit can be incomplete, and a takeover completes it. Visible objects are therefore
exactly those of committed flushes, whose ranges are disjoint: a zombie's staged objects are
never visible, whatever it froze in the middle of, and are removed by the next takeover (or
by the zombie itself when its commit is refused). Cost per flush of P partitions: 2P + 3
requests (P PUTs + 1 head PUT + P copies + 1 manifest PUT + 1 DeleteObjects) instead of
P + 2; per writer start: a GET and a PUT of the head, a LIST of the staging folder and of
the manifests (plus a HEAD when the head holds a commit). See docs/exactly-once.md.

Manifests left ``pending`` by an older version (which wrote its objects visibly before its
commit) still have their objects deleted before anything is rewritten.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Final, Literal

from consumers.data_schema import DataSchema
from consumers.errors import FencedError, PositionOrderError, SinkError
from consumers.records import Event, Origin, Position
from consumers.sink import formats, layout
from consumers.sink.buffer import ShardBuffer, epoch_ms
from consumers.sink.commit import ShardLog
from consumers.sink.config import SinkConfig
from consumers.sink.manifest import MANIFEST_SCHEMA, Manifest, WrittenObject
from consumers.sink.store import ObjectStore, S3ObjectStore
from shardflow import aws, envelope

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from consumers.sink.iceberg import IcebergSink

__all__ = ["MANIFEST_SCHEMA", "FlushResult", "S3Sink", "ShardWriter", "WrittenObject"]

logger = logging.getLogger(__name__)

_CONTENT_TYPES: Final = {"parquet": "application/vnd.apache.parquet", "jsonl": "application/json"}
#: Flush results a writer keeps in :attr:`ShardWriter.flushes` (the latest ones).
RECENT_FLUSHES: Final = 16


@dataclass(frozen=True, slots=True)
class FlushResult:
    """What one flush made durable: the range ``[first, last]`` of the shard, the objects
    written, how many events they hold and how many positions in the range were
    dead-lettered instead, and the manifest's key."""

    stream: str
    shard_id: str
    first: Position
    last: Position
    objects: tuple[WrittenObject, ...]
    records: int
    skipped: int
    manifest_key: str


def _position_key(item: tuple[tuple[int, int], object]) -> tuple[int, int]:
    return item[0]


@dataclass(slots=True)
class _Sealed:
    """A flush cut from the buffer and not yet durable: retried as it is (same range, same
    staged keys, same commit) until it lands or is fenced."""

    manifest: Manifest
    bodies: list[tuple[str, bytes]]  # (staged key, body)
    state: Literal["cut", "staged", "committed"] = "cut"


class ShardWriter:
    """Buffers one shard's events and writes them to S3; see the module docstring.

    Made by :meth:`S3Sink.shard`. ``resume_from`` is the position the consumer resumes
    after (its checkpoint): records at or before it are ignored, and it is
    :attr:`checkpointable` until something later is durable.

    Records must come in stream order: one before the last consumed raises
    :class:`~consumers.errors.PositionOrderError`; the last consumed one again is ignored.
    Not thread-safe: one writer object per shard, fed from one thread. Several writers of
    one shard (in any processes) are fenced: see the module docstring.
    """

    def __init__(
        self,
        sink: S3Sink,
        shard_id: str,
        *,
        resume_from: Position | None = None,
    ) -> None:
        self._sink = sink
        self._log = ShardLog(
            sink.store, prefix=sink.config.prefix, stream=sink.stream, shard_id=shard_id
        )
        self._init_state(sink.stream, shard_id, sink.config, resume_from)

    def _init_state(
        self, stream: str, shard_id: str, config: SinkConfig, resume_from: Position | None
    ) -> None:
        """The buffering and position state every writer has, whatever it commits to
        (the Iceberg writer, :mod:`consumers.sink.iceberg`, shares it)."""
        self.shard_id = shard_id
        self.stream = stream
        self._config = config
        self._buffer = ShardBuffer(config)
        self._durable: Position | None = resume_from
        self._resume_key = None if resume_from is None else resume_from.key
        self._last_key: tuple[int, int] | None = None
        # Ranges [first, last] already durable from an earlier run, ascending; loaded (after
        # the takeover) on the first record. ``_range_idx`` moves forward as positions do.
        self._ranges: list[tuple[tuple[int, int], tuple[int, int]]] | None = None
        self._range_idx = 0
        self._sealed: _Sealed | None = None
        self._fenced: FencedError | None = None
        #: The latest flushes (at most :data:`RECENT_FLUSHES`), oldest first.
        self.flushes: deque[FlushResult] = deque(maxlen=RECENT_FLUSHES)
        # The user records of an aggregate share a sequence number: convert it once.
        self._seq_cache: tuple[str, int] = ("", 0)

    # ---------------------------------------------------------------- public interface

    @property
    def data_schema(self) -> DataSchema | None:
        """The declared schema of ``data`` this writer writes typed (its config's), which
        the pipeline in front of it checks events against."""
        return self._config.data_schema

    @property
    def checkpointable(self) -> Position | None:
        """The highest position such that every record at or before it is durably in S3
        or dead-lettered (``resume_from`` until then). Checkpoint only this."""
        return self._durable

    @property
    def buffered(self) -> int:
        """Events waiting for the next flush (including a flush that failed, kept for its
        retry)."""
        sealed = self._sealed
        return self._buffer.count + (0 if sealed is None else sealed.manifest.records)

    @property
    def fenced(self) -> bool:
        """True once another writer took the shard over (every call then raises
        :class:`~consumers.errors.FencedError`)."""
        return self._fenced is not None

    def add(self, event: Event) -> tuple[FlushResult, ...]:
        """Buffer an event; flush when a boundary is reached. Returns the flushes made (an
        arrival-time boundary flushes before the event, a size boundary after it).

        Raises :class:`~consumers.errors.SinkError` when S3 fails (listing manifests or a
        flush). Calling ``add`` again with the same event is then safe: an event already
        consumed is not added twice, and the failed flush is retried by the next ``add``
        or by :meth:`flush`. Until a flush succeeds, :attr:`checkpointable` does not move.
        Raises :class:`~consumers.errors.FencedError` when another writer owns the shard.
        """
        return self._add(event, self._key_of(event.origin))

    def _add(self, event: Event, key: tuple[int, int]) -> tuple[FlushResult, ...]:
        flushed = self._retry_sealed()
        origin = event.origin
        if not self._advance(key, origin):
            return flushed
        if self._in_durable_range(key):
            return flushed + self._consume_durable(origin)
        buf = self._buffer
        arrival_ms = buf.arrival_ms(event)
        if buf.span_reached(arrival_ms):
            try:
                flushed += (self._flush_buffer(),)
            except SinkError:
                buf.append(event, arrival_ms)  # consumed: it goes in the flush after
                raise
        buf.append(event, arrival_ms)
        if buf.full:
            flushed += (self._flush_buffer(),)
        return flushed

    def skip(self, origin: Origin) -> tuple[FlushResult, ...]:
        """Record that the record at ``origin`` was consumed without output (it was
        dead-lettered), so later positions can become checkpointable."""
        return self._skip(origin, self._key_of(origin))

    def _skip(self, origin: Origin, key: tuple[int, int]) -> tuple[FlushResult, ...]:
        flushed = self._retry_sealed()
        if not self._advance(key, origin):
            return flushed
        if self._in_durable_range(key):
            return flushed + self._consume_durable(origin)
        if self._buffer:
            self._buffer.note_skip(origin)
        else:
            self._durable = origin.position
        return flushed

    def flush(self) -> FlushResult | None:
        """Write whatever is buffered (shutdown, lease end, end of a Lambda invocation).
        Returns the last flush made, None when there was nothing to write."""
        flushed = self._retry_sealed()
        if self._buffer:
            flushed += (self._flush_buffer(),)
        return flushed[-1] if flushed else None

    def flush_if_idle(self, now: datetime | None = None) -> FlushResult | None:
        """Flush when the first buffered event arrived ``max_span_seconds`` or more before
        ``now`` (wall clock, default the current time): a quiet shard's events still reach
        S3. The manifest makes such a flush safe to replay. A failed flush is retried."""
        flushed = self._retry_sealed()
        buf = self._buffer
        if buf:
            now_ms = epoch_ms(now or datetime.now(UTC))
            if now_ms - buf.first_arrival_ms >= self._config.max_span_seconds * 1000:
                flushed += (self._flush_buffer(),)
        return flushed[-1] if flushed else None

    def write_batch(
        self, events: Iterable[Event], *, skipped: Iterable[Origin] = ()
    ) -> list[FlushResult]:
        """Write exactly these events (and mark ``skipped`` positions consumed), then flush:
        the Lambda path, for the successful prefix of an invocation's batch. Positions
        already durable from an earlier attempt (a retry, a bisected batch) are not
        written again."""
        key_of = self._key_of
        events = list(events)
        keys = [key_of(e.origin) for e in events]
        results: list[FlushResult] = []
        add, skip = self._add, self._skip
        skipped = list(skipped)
        if not skipped and all(a < b for a, b in pairwise(keys)):
            # The common case (no dead letters, events in stream order): no (key, item)
            # pair per event to build, sort and keep alive for the cyclic collector.
            for key, event in zip(keys, events, strict=True):
                flushed = add(event, key)
                if flushed:
                    results += flushed
        else:
            items: list[tuple[tuple[int, int], Event | Origin]] = list(
                zip(keys, events, strict=True)
            )
            items += [(key_of(o), o) for o in skipped]
            items.sort(key=_position_key)  # in stream order already, mostly: one pass
            for key, item in items:
                flushed = add(item, key) if isinstance(item, Event) else skip(item, key)
                if flushed:
                    results += flushed
        final = self.flush()
        if final is not None:
            results.append(final)
        return results

    # ---------------------------------------------------------------- internals

    def _key_of(self, origin: Origin) -> tuple[int, int]:
        seq = origin.sequence_number
        cached, value = self._seq_cache
        if seq != cached:
            value = int(seq)
            self._seq_cache = (seq, value)
        sub = origin.sub_sequence_number
        return value, -1 if sub is None else sub

    def _advance(self, key: tuple[int, int], origin: Origin) -> bool:
        """Check stream order; False for a record at or before ``resume_from``."""
        if self._resume_key is not None and key <= self._resume_key:
            return False  # the consumer already checkpointed past it
        last = self._last_key
        if last is not None and key <= last:
            if key == last:
                return False  # the same record again: a retry after an error
            raise PositionOrderError(
                f"record at {origin.position} is not after the last consumed position",
                stream=self.stream,
                shard_id=self.shard_id,
                sequence_number=origin.sequence_number,
            )
        if self._ranges is None:
            self._load_manifests(origin.position)
        self._last_key = key
        return True

    def _in_durable_range(self, key: tuple[int, int]) -> bool:
        ranges = self._ranges
        if not ranges:
            return False
        idx = self._range_idx
        while idx < len(ranges) and ranges[idx][1] < key:
            idx += 1
        self._range_idx = idx
        return idx < len(ranges) and ranges[idx][0] <= key

    def _consume_durable(self, origin: Origin) -> tuple[FlushResult, ...]:
        # Everything buffered precedes the durable range: it is a flush of its own.
        flushed = (self._flush_buffer(),) if self._buffer else ()
        self._durable = origin.position
        return flushed

    def _load_manifests(self, start: Position) -> None:
        if self._fenced is not None:
            raise self._fenced
        log = self._log
        log.take_over()
        ranges = sorted((m.first.key, m.last.key) for m in log.committed(start))
        if ranges:
            logger.info(
                "shard %s/%s: %d flush(es) at or after %s already in S3; not rewriting them",
                self.stream,
                self.shard_id,
                len(ranges),
                start,
            )
        self._ranges = ranges
        self._range_idx = 0

    def _retry_sealed(self) -> tuple[FlushResult, ...]:
        if self._fenced is not None:
            raise self._fenced
        return () if self._sealed is None else (self._finish(),)

    def _flush_buffer(self) -> FlushResult:
        """Cut the buffer into a flush and make it durable."""
        self._sealed = self._seal()
        return self._finish()

    def _seal(self) -> _Sealed:
        buf = self._buffer
        first, last = buf.first, buf.last
        assert first is not None and last is not None
        config = self._config
        log = self._log
        bodies: list[tuple[str, bytes]] = []
        objects: list[WrittenObject] = []
        for partition, columns in buf.items():
            key = layout.object_key(
                config.prefix,
                partition=partition,
                stream=self.stream,
                shard_id=self.shard_id,
                first=first,
                last=last,
                extension=config.extension,
            )
            body = formats.encode_partition(
                columns, stream=self.stream, shard_id=self.shard_id, config=config
            )
            objects.append(WrittenObject(key, partition, len(columns), len(body)))
            bodies.append((log.staging_key(key), body))
        manifest = Manifest(
            stream=self.stream,
            shard_id=self.shard_id,
            first=first,
            last=last,
            format=config.format,
            records=buf.count,
            skipped=buf.skipped,
            bytes=sum(o.bytes for o in objects),
            first_arrival_time=envelope.format_time(buf.first_arrival_ms),
            last_arrival_time=envelope.format_time(buf.last_arrival_ms),
            objects=tuple(objects),
            staged=tuple(k for k, _ in bodies),
        )
        buf.clear()
        return _Sealed(manifest, bodies)

    def _finish(self) -> FlushResult:
        """Stage, commit and roll forward the sealed flush, from where it stopped."""
        sealed = self._sealed
        assert sealed is not None
        manifest = sealed.manifest
        log = self._log
        try:
            if sealed.state == "cut":
                log.stage(sealed.bodies, _CONTENT_TYPES[self._config.format], manifest.first)
                sealed.state = "staged"
            if sealed.state == "staged":
                log.commit(manifest)
                sealed.state = "committed"
            log.roll_forward(manifest)
        except FencedError as exc:
            self._fenced = exc
            self._sealed = None
            raise
        except SinkError:
            logger.exception(
                "shard %s/%s: flush %s..%s failed (%s); keeping its %d event(s) for a retry",
                self.stream,
                self.shard_id,
                manifest.first,
                manifest.last,
                sealed.state,
                manifest.records,
            )
            raise
        self._sealed = None
        result = FlushResult(
            self.stream,
            self.shard_id,
            manifest.first,
            manifest.last,
            manifest.objects,
            manifest.records,
            manifest.skipped,
            log.manifest_key(manifest.last),
        )
        self.flushes.append(result)
        if self._durable is None or self._durable < manifest.last:
            self._durable = manifest.last
        logger.debug(
            "shard %s/%s: flushed %d event(s) %s..%s in %d object(s)",
            self.stream,
            self.shard_id,
            result.records,
            manifest.first,
            manifest.last,
            len(manifest.objects),
        )
        return result


class S3Sink:
    """Athena-ready output of one stream in one bucket; hands out a :class:`ShardWriter`
    per shard.

    ``s3_client`` is a boto3 S3 client (built from the environment when not given);
    ``config`` a :class:`~consumers.sink.SinkConfig` (defaults: Parquet under ``events/``).
    ``store`` replaces the S3 client with another
    :class:`~consumers.sink.store.ObjectStore` (e.g.
    :class:`consumers.sink.testing.InMemoryObjectStore`); ``bucket`` then only names it.
    """

    def __init__(
        self,
        bucket: str,
        *,
        stream: str,
        s3_client: S3Client | Any = None,
        config: SinkConfig | None = None,
        store: ObjectStore | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("bucket must name an S3 bucket")
        if not stream:
            raise ValueError("stream must name the Kinesis stream the records come from")
        self.bucket = bucket
        self.stream = stream
        self.config = config or SinkConfig()
        if store is None:
            store = S3ObjectStore(s3_client if s3_client is not None else aws.client("s3"), bucket)
        self.store: ObjectStore = store
        self._iceberg: IcebergSink | None = None

    def shard(self, shard_id: str, *, resume_from: Position | None = None) -> ShardWriter:
        """A writer for one shard, resuming after ``resume_from`` (the checkpoint). With
        ``format="iceberg"`` it commits to the Iceberg table (:mod:`consumers.sink.iceberg`)."""
        if self.config.format == "iceberg":
            if self._iceberg is None:
                from consumers.sink.iceberg import IcebergSink  # noqa: PLC0415 - optional extra

                self._iceberg = IcebergSink(self.bucket, stream=self.stream, config=self.config)
            return self._iceberg.shard(shard_id, resume_from=resume_from)
        return ShardWriter(self, shard_id, resume_from=resume_from)

    def write_batch(
        self,
        shard_id: str,
        events: Sequence[Event],
        *,
        skipped: Sequence[Origin] = (),
    ) -> list[FlushResult]:
        """Write exactly these events of one shard now (a Lambda invocation's successful
        prefix); see :meth:`ShardWriter.write_batch`."""
        return self.shard(shard_id).write_batch(events, skipped=skipped)
