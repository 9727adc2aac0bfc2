"""A shard's pending flush: events in columns per partition, and the flush boundaries.

Pure code. A :class:`ShardBuffer` holds the events (and dead-lettered positions) of one
contiguous range of a shard since the last flush, split by partition into column lists
(what the Parquet writer wants), and decides the boundaries from the records alone:
payload bytes, event count, and the span of arrival times. No clock is read here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from orjson import dumps

from consumers.records import Event, Origin, Position
from consumers.schema import DT_PROJECTION_START, PartitionKey
from consumers.sink.config import SinkConfig

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)
_HOUR_MS: Final = 3_600_000
#: How far an event's ``time`` may be ahead of its arrival and still name its partition
#: (clocks of producers drift; a partition ahead of NOW is not projected until NOW gets there).
MAX_TIME_AHEAD_MS: Final = _HOUR_MS
#: Envelope attributes that have their own column; anything else goes to ``extensions``.
_OWN_COLUMNS: Final = frozenset({"id", "source", "type", "time", "specversion", "data"})
_REQUIRED_COUNT: Final = 4  # id, source, type, specversion are always present
#: Bytes counted for an event built without its raw bytes (tests, handlers).
_FALLBACK_EVENT_BYTES: Final = 256


def epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch, exactly (no float rounding near an hour boundary)."""
    return (value - _EPOCH) // _MS


_PROJECTION_START_MS: Final = epoch_ms(
    datetime.fromisoformat(DT_PROJECTION_START).replace(tzinfo=UTC)
)


def partition_ms(time_ms: int | None, arrival_ms: int) -> int:
    """The moment whose UTC day and hour partition an event (``dt``/``hr``), in epoch ms.

    The event's ``time``, unless the table's partition projection would never show it: a
    time before :data:`~consumers.schema.DT_PROJECTION_START`, or more than
    :data:`MAX_TIME_AHEAD_MS` after the record's arrival (a broken producer clock; Athena
    projects ``dt`` up to NOW only). Those, and events without ``time``, are partitioned by
    their arrival time; the ``time`` column keeps what the producer sent.
    """
    if time_ms is None or not _PROJECTION_START_MS <= time_ms <= arrival_ms + MAX_TIME_AHEAD_MS:
        return arrival_ms
    return time_ms


#: Row layout in the buffer: the schema's columns less ``stream`` and ``shard_id`` (the same
#: for every row of a shard writer, added when the columns are built).
_ROW_COLUMNS: Final = (
    "id",
    "source",
    "type",
    "time",
    "specversion",
    "data",
    "extensions",
    "sequence_number",
    "sub_sequence_number",
    "partition_key",
    "arrival_time",
)
Row = tuple[str, str, str, int | None, str, str | None, str | None, str, int | None, str, int]


class Columns:
    """The rows of one partition of a pending flush.

    Kept as row tuples (one allocation per event, the cheapest thing to append) and
    turned into column lists once, at flush time.
    """

    __slots__ = ("rows",)

    def __init__(self, rows: list[Row] | None = None) -> None:
        self.rows: list[Row] = [] if rows is None else rows

    def __len__(self) -> int:
        return len(self.rows)

    def as_dict(self, stream: str, shard_id: str) -> dict[str, list[Any]]:
        """Every schema column as a list (``time``/``arrival_time`` in epoch ms)."""
        n = len(self.rows)
        columns: dict[str, list[Any]] = (
            {
                name: list(values)
                for name, values in zip(_ROW_COLUMNS, zip(*self.rows, strict=True), strict=True)
            }
            if n
            else {name: [] for name in _ROW_COLUMNS}
        )
        columns["stream"] = [stream] * n
        columns["shard_id"] = [shard_id] * n
        return columns


class ShardBuffer:
    """The events of one shard since its last flush, by partition.

    ``first`` is the position of the first event, ``last`` of the last record consumed
    (an event or a dead-lettered position); the flush covers ``[first, last]``.
    """

    __slots__ = (
        "_arrival_cache",
        "_first",
        "_hours",
        "_keys",
        "_last",
        "_last_hour",
        "_last_rows",
        "_max_bytes",
        "_max_records",
        "_span_ms",
        "bytes",
        "count",
        "first_arrival_ms",
        "last_arrival_ms",
        "partitions",
        "skipped",
    )

    def __init__(self, config: SinkConfig) -> None:
        self._max_bytes = config.max_bytes
        self._max_records = config.max_records
        self._span_ms = int(config.max_span_seconds * 1000)
        self._keys: tuple[PartitionKey, ...] = config.partition_keys
        self._hours: dict[int, tuple[tuple[str, str], tuple[str, str]]] = {}
        self._arrival_cache: tuple[datetime | None, int] = (None, 0)
        self.partitions: dict[tuple[tuple[str, str], ...], list[Row]] = {}
        self.count = 0
        self.bytes = 0
        self.skipped = 0
        # Origins, not Positions: a Position per event would cost more than the rest of
        # append.
        self._first: Origin | None = None
        self._last: Origin | None = None
        self._last_hour = -1
        self._last_rows: list[Row] = []
        self.first_arrival_ms = 0
        self.last_arrival_ms = 0

    def __bool__(self) -> bool:
        return self.count > 0

    @property
    def first(self) -> Position | None:
        """Position of the first buffered event."""
        first = self._first
        return None if first is None else Position(first.sequence_number, first.sub_sequence_number)

    @property
    def last(self) -> Position | None:
        """Position of the last record consumed into this flush."""
        last = self._last
        return None if last is None else Position(last.sequence_number, last.sub_sequence_number)

    def arrival_ms(self, event: Event) -> int:
        """The event's arrival time in epoch ms (cached: an aggregate's records share it)."""
        arrival = event.origin.arrival_time
        cached, ms = self._arrival_cache
        if arrival is cached:
            return ms
        ms = epoch_ms(arrival)
        self._arrival_cache = (arrival, ms)
        return ms

    def span_reached(self, arrival_ms: int) -> bool:
        """True when an event arriving at ``arrival_ms`` must start a new flush."""
        return self.count > 0 and arrival_ms - self.first_arrival_ms >= self._span_ms

    @property
    def full(self) -> bool:
        """True when the byte or count limit is reached: flush now."""
        return self.bytes >= self._max_bytes or self.count >= self._max_records

    def partition_of(self, envelope: dict[str, Any], time_ms: int) -> tuple[tuple[str, str], ...]:
        """The partition values (``dt``, ``hr``, then the configured keys) of an event."""
        hour = time_ms // _HOUR_MS
        dt_hr = self._hours.get(hour)
        if dt_hr is None:
            moment = _EPOCH + timedelta(hours=hour)
            dt_hr = self._hours[hour] = (
                ("dt", moment.date().isoformat()),  # YYYY-MM-DD, the year zero-padded
                ("hr", f"{moment.hour:02d}"),
            )
        if not self._keys:
            return dt_hr
        return dt_hr + tuple((k.name, k.value(envelope)) for k in self._keys)

    def append(self, event: Event, arrival_ms: int) -> None:
        """Add an event (its position after every position consumed so far)."""
        env = event.envelope
        origin = event.origin
        event_time = event.time
        time_ms = None if event_time is None else (event_time - _EPOCH) // _MS
        part_ms = partition_ms(time_ms, arrival_ms)
        hour = part_ms // _HOUR_MS
        if hour == self._last_hour and not self._keys:
            rows = self._last_rows  # consecutive events mostly share their hour
        else:
            part = self.partition_of(env, part_ms)
            rows = self.partitions.get(part)  # type: ignore[assignment]
            if rows is None:
                rows = self.partitions[part] = []
            self._last_hour, self._last_rows = hour, rows
        data = env.get("data")
        extra = len(env) - _REQUIRED_COUNT - ("time" in env) - (data is not None or "data" in env)
        rows.append(
            (
                env["id"],
                env["source"],
                env["type"],
                time_ms,
                env["specversion"],
                None if data is None else dumps(data).decode(),
                dumps({k: v for k, v in env.items() if k not in _OWN_COLUMNS}).decode()
                if extra
                else None,
                origin.sequence_number,
                origin.sub_sequence_number,
                origin.partition_key,
                arrival_ms,
            )
        )
        if not self.count:
            self._first = origin
            self.first_arrival_ms = arrival_ms
        self._last = origin
        self.last_arrival_ms = arrival_ms
        self.count += 1
        self.bytes += len(event.raw) or _FALLBACK_EVENT_BYTES

    def note_skip(self, origin: Origin) -> None:
        """A position inside the pending range consumed without output (dead-lettered)."""
        self.skipped += 1
        self._last = origin

    def items(self) -> Iterator[tuple[tuple[tuple[str, str], ...], Columns]]:
        """Partitions and their columns, in partition order (stable object order)."""
        return ((part, Columns(rows)) for part, rows in sorted(self.partitions.items()))

    def clear(self) -> None:
        """Start a new flush."""
        self.partitions = {}
        self._last_hour, self._last_rows = -1, []
        self.count = self.bytes = self.skipped = 0
        self._first = self._last = None
        self.first_arrival_ms = self.last_arrival_ms = 0
