"""The table the S3 sink writes, in one object: :data:`SCHEMA`.

The sink's Parquet and JSON Lines writers, the Athena DDL (:mod:`consumers.athena`), the
Glue table in Terraform and ``shardflow query`` all read their columns, types and partition
projection from here, so they cannot drift apart.

Columns: the envelope's CloudEvents attributes (``data`` as a JSON string, any extension
attributes as one JSON object in ``extensions``), then the record's origin in the stream.
Partitions: ``dt`` (``YYYY-MM-DD``) and ``hr`` (``00`` to ``23``) of the event's ``time`` in UTC
(its arrival time when the envelope has no ``time``, or one the partition projection cannot
reach: see :func:`consumers.sink.buffer.partition_ms`), then any :class:`PartitionKey` the
sink is configured with.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from consumers.data_schema import DataSchema

#: Athena partition projection types (``projection.<column>.type``).
ProjectionType = Literal["enum", "integer", "date", "injected"]
PROJECTION_TYPES: Final[tuple[ProjectionType, ...]] = ("enum", "integer", "date", "injected")

#: Athena (Hive DDL) type -> DuckDB type.
_DUCKDB_TYPES: Final = {
    "string": "VARCHAR",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "timestamp": "TIMESTAMP",
}

_NAME_RE: Final = re.compile(r"^[a-z_][a-z0-9_]{0,127}$")
#: Characters a partition value keeps; anything else becomes ``_`` in the S3 key (the
#: unmodified value is still in its column), so keys stay valid in every tool and in the
#: Athena location template.
PARTITION_VALUE_RE: Final = re.compile(r"[^A-Za-z0-9._-]")
#: First day of the ``dt`` projection: Athena sees no partition before it.
DT_PROJECTION_START: Final = "2020-01-01"
#: ``dt`` projection range: from :data:`DT_PROJECTION_START` to now.
DT_PROJECTION_RANGE: Final = f"{DT_PROJECTION_START},NOW"


@dataclass(frozen=True, slots=True)
class Column:
    """A data column: its name, its Athena/Hive type and what it holds."""

    name: str
    type: str
    comment: str
    #: The DuckDB type when it is not one of the scalar types' (a typed ``data`` struct).
    duckdb: str = ""

    @property
    def duckdb_type(self) -> str:
        """The DuckDB type ``shardflow query`` reads the column as."""
        return self.duckdb or _DUCKDB_TYPES[self.type]


@dataclass(frozen=True, slots=True)
class PartitionColumn:
    """A partition column as the table declares it: name, type and the Athena partition
    projection parameters (``projection.<name>.<param>``) that enumerate its values."""

    name: str
    type: str
    projection: Mapping[str, str]
    comment: str

    @property
    def duckdb_type(self) -> str:
        """The type ``shardflow query`` gives the Hive partition value."""
        return _DUCKDB_TYPES[self.type]


@dataclass(frozen=True, slots=True)
class PartitionKey:
    """A further partition of the sink's output, after ``dt`` and ``hr``.

    ``source`` names where the value comes from: an envelope attribute (``"source"``,
    ``"type"``) or a path into it (``"data.tenant"``). A missing or null value becomes
    ``default``; characters outside ``[A-Za-z0-9._-]`` become ``_``.

    ``projection`` is the Athena partition-projection type: ``"enum"`` (list the
    ``values``; others are not queryable), ``"integer"`` (``range=(min, max)``, optional
    ``digits`` of zero-padding), ``"date"`` (``date_format`` in Java's
    ``DateTimeFormatter`` letters and ``date_range``, e.g. ``"2024-01-01,NOW"``) or
    ``"injected"`` (any value; queries must give it in ``WHERE``).

    The name must differ from every column: Athena rejects a partition column that is
    also a data column (partition by event type as ``event_type`` with ``source="type"``).
    """

    name: str
    source: str
    projection: ProjectionType = "injected"
    values: tuple[str, ...] = ()
    range: tuple[int, int] | None = None
    digits: int | None = None
    date_format: str | None = None
    date_range: str | None = None
    default: str = "unknown"
    path: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise _config_error(
                "partition_keys.name",
                f"{self.name!r} must be lower-case letters, digits and _ (Athena column name)",
            )
        if self.name in _RESERVED_NAMES:
            raise _config_error(
                "partition_keys.name",
                f"{self.name!r} is already a column or partition of the table",
            )
        parts = tuple(self.source.split("."))
        if not self.source or not all(parts):
            raise _config_error(
                "partition_keys.source", f"{self.source!r} must be an attribute path like data.x"
            )
        object.__setattr__(self, "path", parts)
        if self.projection not in PROJECTION_TYPES:
            raise _config_error(
                "partition_keys.projection",
                f"{self.projection!r} is not one of {', '.join(PROJECTION_TYPES)}",
            )
        if PARTITION_VALUE_RE.search(self.default) or not self.default:
            raise _config_error(
                "partition_keys.default", f"{self.default!r} must match [A-Za-z0-9._-]+"
            )
        if self.projection == "enum":
            if not self.values:
                raise _config_error("partition_keys.values", "an enum projection needs values")
            bad = [v for v in self.values if PARTITION_VALUE_RE.search(v) or not v]
            if bad:
                raise _config_error("partition_keys.values", f"{bad!r} must match [A-Za-z0-9._-]+")
        if self.projection == "integer" and (self.range is None or self.range[0] > self.range[1]):
            raise _config_error(
                "partition_keys.range", "an integer projection needs range=(min, max), min <= max"
            )
        if self.projection == "date" and (not self.date_format or not self.date_range):
            raise _config_error(
                "partition_keys.date_format",
                "a date projection needs date_format (e.g. yyyy-MM-dd) and date_range",
            )

    def value(self, envelope: Mapping[str, Any]) -> str:
        """This key's partition value for an envelope, as it appears in the S3 key."""
        current: Any = envelope
        for part in self.path:
            if not isinstance(current, Mapping):
                current = None
                break
            current = current.get(part)
        if current is None or current == "":
            return self.default
        if self.projection == "integer" and isinstance(current, int) and self.digits:
            return f"{current:0{self.digits}d}"
        text = current if isinstance(current, str) else str(current)
        return PARTITION_VALUE_RE.sub("_", text)

    @property
    def column(self) -> PartitionColumn:
        """The partition column this key adds to the table."""
        projection: dict[str, str] = {"type": self.projection}
        column_type = "string"
        if self.projection == "enum":
            projection["values"] = ",".join(self.values)
        elif self.projection == "integer":
            assert self.range is not None
            projection["range"] = f"{self.range[0]},{self.range[1]}"
            if self.digits:
                projection["digits"] = str(self.digits)
            column_type = "int"
        elif self.projection == "date":
            assert self.date_format is not None and self.date_range is not None
            projection["format"] = self.date_format
            projection["range"] = self.date_range
        return PartitionColumn(self.name, column_type, projection, f"from {self.source}")


def _config_error(field_name: str, message: str) -> Exception:
    from shardflow.errors import ConfigError  # noqa: PLC0415 - keeps this module import-light

    return ConfigError(field_name, message)


#: The data columns, in file order.
COLUMNS: Final[tuple[Column, ...]] = (
    Column("id", "string", "event id (UUIDv7), the idempotency key"),
    Column("source", "string", "CloudEvents source: the emitting application"),
    Column("type", "string", "event type"),
    Column("time", "timestamp", "event time (UTC); null when the envelope has none"),
    Column("specversion", "string", "CloudEvents spec version"),
    Column("data", "string", "event payload as a JSON string"),
    Column("extensions", "string", "other envelope attributes as a JSON object, or null"),
    Column("stream", "string", "Kinesis stream name"),
    Column("shard_id", "string", "Kinesis shard id"),
    Column("sequence_number", "string", "Kinesis sequence number (decimal string)"),
    Column("sub_sequence_number", "bigint", "index in the KPL aggregate; null for a plain record"),
    Column("partition_key", "string", "partition key of the user record"),
    Column("arrival_time", "timestamp", "Kinesis approximate arrival time (UTC)"),
)

#: The built-in partitions: day and hour of the event time, UTC.
TIME_PARTITIONS: Final[tuple[PartitionColumn, ...]] = (
    PartitionColumn(
        "dt",
        "string",
        {
            "type": "date",
            "format": "yyyy-MM-dd",
            "range": DT_PROJECTION_RANGE,
            "interval": "1",
            "interval.unit": "DAYS",
        },
        "UTC day of the event time",
    ),
    PartitionColumn(
        "hr",
        "int",
        {"type": "integer", "range": "0,23", "digits": "2"},
        "UTC hour of the event time",
    ),
)

_RESERVED_NAMES: Final = frozenset(c.name for c in COLUMNS) | {p.name for p in TIME_PARTITIONS}


@dataclass(frozen=True, slots=True)
class TableSchema:
    """Data columns and partition columns of the sink's table.

    ``data``: the declared schema of the ``data`` column (:mod:`consumers.data_schema`), or
    None for a JSON string; :meth:`with_data` sets it and the column's type together.
    """

    columns: tuple[Column, ...] = COLUMNS
    partitions: tuple[PartitionColumn, ...] = TIME_PARTITIONS
    data: DataSchema | None = None

    def with_data(self, data: DataSchema | None) -> TableSchema:
        """This schema with ``data`` as the ``data`` column's declared type (a struct)."""
        if data is None:
            return self
        typed = Column(
            "data", data.hive_type, "event payload, typed by the declared schema", data.duckdb_type
        )
        columns = tuple(typed if c.name == "data" else c for c in self.columns)
        return TableSchema(columns, self.partitions, data)

    @property
    def column_names(self) -> tuple[str, ...]:
        """Data column names, in file order."""
        return tuple(c.name for c in self.columns)

    @property
    def partition_names(self) -> tuple[str, ...]:
        """Partition column names, in S3 key order."""
        return tuple(p.name for p in self.partitions)

    def with_partition_keys(self, keys: tuple[PartitionKey, ...]) -> TableSchema:
        """This schema with ``keys`` appended to its partitions."""
        if not keys:
            return self
        names = [k.name for k in keys]
        if len(set(names)) != len(names):
            raise _config_error("partition_keys", f"duplicate partition key names in {names}")
        return TableSchema(self.columns, self.partitions + tuple(k.column for k in keys), self.data)

    def arrow_schema(self) -> Any:
        """The ``pyarrow.Schema`` of the Parquet files (needs the ``parquet`` extra)."""
        import pyarrow as pa  # noqa: PLC0415 - optional dependency

        types = {
            "string": pa.string(),
            "bigint": pa.int64(),
            "int": pa.int32(),
            # Naive UTC millis: Athena's ``timestamp`` and DuckDB's TIMESTAMP read it as is.
            "timestamp": pa.timestamp("ms"),
        }
        return pa.schema(
            [
                pa.field(
                    c.name,
                    self.data.arrow_type()
                    if c.name == "data" and self.data is not None
                    else types[c.type],
                    nullable=c.name not in _NOT_NULL,
                )
                for c in self.columns
            ]
        )


#: Columns every row has a value for.
_NOT_NULL: Final = frozenset(
    {
        "id",
        "source",
        "type",
        "specversion",
        "stream",
        "shard_id",
        "sequence_number",
        "partition_key",
        "arrival_time",
    }
)

#: The default table: the columns above, partitioned by ``dt`` and ``hr``.
SCHEMA: Final = TableSchema()
