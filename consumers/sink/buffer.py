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

import orjson

from consumers.records import Event, Position
from consumers.schema import PartitionKey
from consumers.sink.config import SinkConfig

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)
_HOUR_MS: Final = 3_600_000
#: Envelope attributes that have their own column; anything else goes to ``extensions``.
_OWN_COLUMNS: Final = frozenset({"id", "source", "type", "time", "specversion", "data"})
_REQUIRED_COUNT: Final = 4  # id, source, type, specversion are always present
#: Bytes counted for an event built without its raw bytes (tests, handlers).
_FALLBACK_EVENT_BYTES: Final = 256


def epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch, exactly (no float rounding near an hour boundary)."""
    return (value - _EPOCH) // _MS


class Columns:
    """Column lists of one partition of a pending flush (names as in the schema)."""

    __slots__ = (
        "arrival_time",
        "data",
        "extensions",
        "id",
        "partition_key",
        "sequence_number",
        "source",
        "specversion",
        "sub_sequence_number",
        "time",
        "type",
    )

    def __init__(self) -> None:
        self.id: list[str] = []
        self.source: list[str] = []
        self.type: list[str] = []
        self.time: list[int | None] = []
        self.specversion: list[str] = []
        self.data: list[str | None] = []
        self.extensions: list[str | None] = []
        self.sequence_number: list[str] = []
        self.sub_sequence_number: list[int | None] = []
        self.partition_key: list[str] = []
        self.arrival_time: list[int] = []

    def __len__(self) -> int:
        return len(self.id)

    def as_dict(self, stream: str, shard_id: str) -> dict[str, list[Any]]:
        """Every schema column as a list (``time``/``arrival_time`` in epoch ms)."""
        n = len(self.id)
        return {
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time,
            "specversion": self.specversion,
            "data": self.data,
            "extensions": self.extensions,
            "stream": [stream] * n,
            "shard_id": [shard_id] * n,
            "sequence_number": self.sequence_number,
            "sub_sequence_number": self.sub_sequence_number,
            "partition_key": self.partition_key,
            "arrival_time": self.arrival_time,
        }


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
        self.partitions: dict[tuple[tuple[str, str], ...], Columns] = {}
        self.count = 0
        self.bytes = 0
        self.skipped = 0
        # (sequence number, sub-sequence number): a Position per event would cost more than
        # the rest of append.
        self._first: tuple[str, int | None] | None = None
        self._last: tuple[str, int | None] | None = None
        self.first_arrival_ms = 0
        self.last_arrival_ms = 0

    def __bool__(self) -> bool:
        return self.count > 0

    @property
    def first(self) -> Position | None:
        """Position of the first buffered event."""
        return None if self._first is None else Position(*self._first)

    @property
    def last(self) -> Position | None:
        """Position of the last record consumed into this flush."""
        return None if self._last is None else Position(*self._last)

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
            moment = datetime.fromtimestamp(hour * 3600, UTC)
            dt_hr = self._hours[hour] = (
                ("dt", moment.strftime("%Y-%m-%d")),
                ("hr", f"{moment.hour:02d}"),
            )
        if not self._keys:
            return dt_hr
        return dt_hr + tuple((k.name, k.value(envelope)) for k in self._keys)

    def append(self, event: Event, arrival_ms: int) -> None:
        """Add an event (its position after every position consumed so far)."""
        env = event.envelope
        origin = event.origin
        time_ms = None if event.time is None else epoch_ms(event.time)
        part = self.partition_of(env, arrival_ms if time_ms is None else time_ms)
        cols = self.partitions.get(part)
        if cols is None:
            cols = self.partitions[part] = Columns()
        cols.id.append(env["id"])
        cols.source.append(env["source"])
        cols.type.append(env["type"])
        cols.time.append(time_ms)
        cols.specversion.append(env["specversion"])
        data = env.get("data")
        cols.data.append(None if data is None else orjson.dumps(data).decode())
        extra = len(env) - _REQUIRED_COUNT - ("time" in env) - ("data" in env)
        cols.extensions.append(
            orjson.dumps({k: v for k, v in env.items() if k not in _OWN_COLUMNS}).decode()
            if extra
            else None
        )
        cols.sequence_number.append(origin.sequence_number)
        cols.sub_sequence_number.append(origin.sub_sequence_number)
        cols.partition_key.append(origin.partition_key)
        cols.arrival_time.append(arrival_ms)
        position = (origin.sequence_number, origin.sub_sequence_number)
        if self.count == 0:
            self._first = position
            self.first_arrival_ms = arrival_ms
        self._last = position
        self.last_arrival_ms = arrival_ms
        self.count += 1
        self.bytes += len(event.raw) or _FALLBACK_EVENT_BYTES

    def note_skip(self, position: Position) -> None:
        """A position inside the pending range consumed without output (dead-lettered)."""
        self.skipped += 1
        self._last = (position.sequence_number, position.sub_sequence_number)

    def items(self) -> Iterator[tuple[tuple[tuple[str, str], ...], Columns]]:
        """Partitions and their columns, in partition order (stable object order)."""
        return iter(sorted(self.partitions.items()))

    def clear(self) -> None:
        """Start a new flush."""
        self.partitions = {}
        self.count = self.bytes = self.skipped = 0
        self._first = self._last = None
        self.first_arrival_ms = self.last_arrival_ms = 0
