"""The S3 sink: per-shard writers that flush Athena-ready objects exactly once.

A :class:`ShardWriter` consumes one shard's records in stream order (:meth:`~ShardWriter.add`
an event, :meth:`~ShardWriter.skip` a dead-lettered position) and flushes a contiguous
range of the shard at a time: one object per partition, then a manifest naming the range
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
* A flush first writes its manifest as ``pending``, then the objects, then the manifest as
  ``committed``. A writer that finds a pending manifest (a crash mid-flush) deletes the
  objects it lists before writing anything, so a half-written flush leaves no duplicate.

Limits (see the README): one writer per shard at a time (a zombie that lost its lease, or a
Lambda ``ParallelizationFactor`` above 1, can write overlapping ranges); objects of a crashed
flush are visible to queries until the replay cleans them up.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar

from consumers.errors import PositionOrderError, SinkError
from consumers.records import Event, Origin, Position
from consumers.sink import formats, layout
from consumers.sink.buffer import ShardBuffer, epoch_ms
from consumers.sink.config import SinkConfig
from consumers.sink.manifest import MANIFEST_SCHEMA, Manifest, WrittenObject
from consumers.sink.store import ObjectStore, S3ObjectStore, StoreError
from shardflow import aws, envelope

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["MANIFEST_SCHEMA", "FlushResult", "S3Sink", "ShardWriter", "WrittenObject"]

logger = logging.getLogger(__name__)
_P = ParamSpec("_P")
_R = TypeVar("_R")

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


class ShardWriter:
    """Buffers one shard's events and writes them to S3; see the module docstring.

    Made by :meth:`S3Sink.shard`. ``resume_from`` is the position the consumer resumes
    after (its checkpoint): records at or before it are ignored, and it is
    :attr:`checkpointable` until something later is durable.

    Records must come in stream order: one before the last consumed raises
    :class:`~consumers.errors.PositionOrderError`; the last consumed one again is ignored.
    Not thread-safe: one writer per shard, fed from one thread.
    """

    def __init__(
        self,
        sink: S3Sink,
        shard_id: str,
        *,
        resume_from: Position | None = None,
    ) -> None:
        self._sink = sink
        self.shard_id = shard_id
        self.stream = sink.stream
        self._config = sink.config
        self._buffer = ShardBuffer(sink.config)
        self._durable: Position | None = resume_from
        self._resume_key = None if resume_from is None else resume_from.key
        self._last_key: tuple[int, int] | None = None
        # Ranges [first, last] already durable from an earlier run, ascending; loaded on the
        # first record. ``_range_idx`` moves forward as positions do.
        self._ranges: list[tuple[tuple[int, int], tuple[int, int]]] | None = None
        self._range_idx = 0
        # A flush that failed after its pending manifest was written: cleaned up before the
        # next attempt, whose range may differ.
        self._failed: tuple[str, tuple[str, ...]] | None = None
        #: The latest flushes (at most :data:`RECENT_FLUSHES`), oldest first.
        self.flushes: deque[FlushResult] = deque(maxlen=RECENT_FLUSHES)
        # The user records of an aggregate share a sequence number: convert it once.
        self._seq_cache: tuple[str, int] = ("", 0)

    # ---------------------------------------------------------------- public interface

    @property
    def checkpointable(self) -> Position | None:
        """The highest position such that every record at or before it is durably in S3
        or dead-lettered (``resume_from`` until then). Checkpoint only this."""
        return self._durable

    @property
    def buffered(self) -> int:
        """Events waiting for the next flush."""
        return self._buffer.count

    def add(self, event: Event) -> tuple[FlushResult, ...]:
        """Buffer an event; flush when a boundary is reached. Returns the flushes made (an
        arrival-time boundary flushes before the event, a size boundary after it).

        Raises :class:`~consumers.errors.SinkError` when S3 fails (listing manifests or a
        flush). Calling ``add`` again with the same event is then safe: an event already
        consumed is not added twice, and the failed flush is retried by the next ``add``
        or by :meth:`flush`. Until a flush succeeds, :attr:`checkpointable` does not move.
        """
        return self._add(event, self._key_of(event.origin))

    def _add(self, event: Event, key: tuple[int, int]) -> tuple[FlushResult, ...]:
        origin = event.origin
        if not self._advance(key, origin):
            return ()
        if self._in_durable_range(key):
            return self._consume_durable(origin)
        buf = self._buffer
        arrival_ms = buf.arrival_ms(event)
        flushed: tuple[FlushResult, ...] = ()
        if buf.span_reached(arrival_ms):
            try:
                flushed = (self._flush(),)
            except SinkError:
                buf.append(event, arrival_ms)  # consumed: the retried flush will cover it
                raise
        buf.append(event, arrival_ms)
        if buf.full:
            flushed += (self._flush(),)
        return flushed

    def skip(self, origin: Origin) -> tuple[FlushResult, ...]:
        """Record that the record at ``origin`` was consumed without output (it was
        dead-lettered), so later positions can become checkpointable."""
        return self._skip(origin, self._key_of(origin))

    def _skip(self, origin: Origin, key: tuple[int, int]) -> tuple[FlushResult, ...]:
        if not self._advance(key, origin):
            return ()
        if self._in_durable_range(key):
            return self._consume_durable(origin)
        if self._buffer:
            self._buffer.note_skip(origin)
        else:
            self._durable = origin.position
        return ()

    def flush(self) -> FlushResult | None:
        """Write whatever is buffered (shutdown, lease end, end of a Lambda invocation)."""
        return self._flush() if self._buffer else None

    def flush_if_idle(self, now: datetime | None = None) -> FlushResult | None:
        """Flush when the first buffered event arrived ``max_span_seconds`` or more before
        ``now`` (wall clock, default the current time): a quiet shard's events still reach
        S3. The manifest makes such a flush safe to replay."""
        if not self._buffer:
            return None
        now_ms = epoch_ms(now or datetime.now(UTC))
        if now_ms - self._buffer.first_arrival_ms >= self._config.max_span_seconds * 1000:
            return self._flush()
        return None

    def write_batch(
        self, events: Iterable[Event], *, skipped: Iterable[Origin] = ()
    ) -> list[FlushResult]:
        """Write exactly these events (and mark ``skipped`` positions consumed), then flush:
        the Lambda path, for the successful prefix of an invocation's batch. Positions
        already durable from an earlier attempt (a retry, a bisected batch) are not
        written again."""
        key_of = self._key_of
        items: list[tuple[tuple[int, int], Event | Origin]] = [
            (key_of(e.origin), e) for e in events
        ]
        items += [(key_of(o), o) for o in skipped]
        items.sort(key=_position_key)  # in stream order already, mostly: one pass
        results: list[FlushResult] = []
        add, skip = self._add, self._skip
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
        flushed = (self._flush(),) if self._buffer else ()
        self._durable = origin.position
        return flushed

    def _load_manifests(self, start: Position) -> None:
        sink = self._sink
        prefix = layout.manifest_prefix(sink.config.prefix, self.stream, self.shard_id)
        start_after = layout.manifests_start_after(
            sink.config.prefix, self.stream, self.shard_id, start
        )
        ranges: list[tuple[tuple[int, int], tuple[int, int]]] = []
        keys = self._io("list manifests", sink.store.list_keys, prefix, start_after=start_after)
        for key in keys:
            manifest = self._read_manifest(key)
            if manifest.status != "committed":
                self._discard(key, tuple(o.key for o in manifest.objects))
                continue
            ranges.append((manifest.first.key, manifest.last.key))
        ranges.sort()
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

    def _discard(self, manifest_key: str, object_keys: tuple[str, ...]) -> None:
        logger.warning(
            "shard %s/%s: removing an unfinished flush (%s, %d object(s))",
            self.stream,
            self.shard_id,
            manifest_key,
            len(object_keys),
        )
        keys = (*object_keys, manifest_key)
        self._io("delete an unfinished flush", self._sink.store.delete, keys)

    def _io(
        self,
        what: str,
        call: Callable[_P, _R],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> _R:
        """A store request; its failure re-raised as SinkError with this shard's context."""
        try:
            return call(*args, **kwargs)
        except StoreError as exc:
            raise SinkError(
                f"{what}: {exc}",
                stream=self.stream,
                shard_id=self.shard_id,
                error_code=exc.error_code,
            ) from exc

    def _read_manifest(self, key: str) -> Manifest:
        found = self._io("read a manifest", self._sink.store.get, key)
        if found is None:
            raise SinkError(
                f"manifest {self._sink.store.location}/{key} vanished while listed",
                stream=self.stream,
                shard_id=self.shard_id,
            )
        try:
            return Manifest.from_json(found.body)
        except ValueError as exc:
            raise SinkError(
                f"manifest {self._sink.store.location}/{key} is unreadable: {exc}",
                stream=self.stream,
                shard_id=self.shard_id,
            ) from exc

    def _put(self, key: str, body: bytes, content_type: str, first: Position) -> None:
        try:
            self._sink.store.put(key, body, content_type=content_type)
        except StoreError as exc:
            raise SinkError(
                f"write {key}: {exc}",
                stream=self.stream,
                shard_id=self.shard_id,
                sequence_number=first.sequence_number,
                error_code=exc.error_code,
            ) from exc

    def _flush(self) -> FlushResult:
        buf = self._buffer
        first, last = buf.first, buf.last
        assert first is not None and last is not None
        config = self._config
        sink = self._sink
        manifest_key = layout.manifest_key(config.prefix, self.stream, self.shard_id, last)
        bodies: list[tuple[WrittenObject, bytes]] = []
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
            bodies.append((WrittenObject(key, partition, len(columns), len(body)), body))
        objects = tuple(obj for obj, _ in bodies)
        if self._failed is not None:
            stale_manifest, stale_keys = self._failed
            keep = {o.key for o in objects}
            stale = tuple(k for k in stale_keys if k not in keep)
            if stale_manifest != manifest_key:
                stale += (stale_manifest,)
            if stale:
                self._io("delete a failed flush", sink.store.delete, stale)
            self._failed = None
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
            objects=objects,
            status="pending",
        )
        # Remembered before the first PUT: a request that times out may still have landed.
        self._failed = (manifest_key, tuple(o.key for o in objects))
        content_type = _CONTENT_TYPES[config.format]
        try:
            self._put(manifest_key, manifest.to_json(), "application/json", first)
            for obj, body in bodies:
                self._put(obj.key, body, content_type, first)
            committed = manifest.with_status("committed")
            self._put(manifest_key, committed.to_json(), "application/json", first)
        except SinkError:
            logger.exception(
                "shard %s/%s: flush %s..%s failed; keeping %d buffered event(s)",
                self.stream,
                self.shard_id,
                first,
                last,
                buf.count,
            )
            raise
        self._failed = None
        result = FlushResult(
            self.stream, self.shard_id, first, last, objects, buf.count, buf.skipped, manifest_key
        )
        self.flushes.append(result)
        self._durable = last
        buf.clear()
        logger.debug(
            "shard %s/%s: flushed %d event(s) %s..%s in %d object(s)",
            self.stream,
            self.shard_id,
            result.records,
            first,
            last,
            len(objects),
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

    def shard(self, shard_id: str, *, resume_from: Position | None = None) -> ShardWriter:
        """A writer for one shard, resuming after ``resume_from`` (the checkpoint)."""
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
