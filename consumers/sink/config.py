"""The S3 sink's settings: output format, key prefix, buffer limits, partition keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from consumers.data_schema import DataSchema
from consumers.schema import SCHEMA, PartitionKey, TableSchema
from shardflow import resources, settings
from shardflow.errors import ConfigError

OutputFormat = Literal["parquet", "jsonl", "iceberg"]
OUTPUT_FORMATS: Final[tuple[OutputFormat, ...]] = ("parquet", "jsonl", "iceberg")

#: Default buffer limits per shard: Athena reads files of tens of MiB best; five minutes
#: bounds how late an event appears in queries.
DEFAULT_MAX_BYTES: Final = 64 * 1024 * 1024
DEFAULT_MAX_RECORDS: Final = 1_000_000
DEFAULT_MAX_SPAN_SECONDS: Final = 300.0

_MIN_BYTES: Final = 1024
_MAX_BYTES: Final = 1024 * 1024 * 1024
_MAX_RECORDS: Final = 10_000_000
_MAX_SPAN: Final = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class SinkConfig:
    """How the sink writes. Every limit is per shard writer.

    * ``format``: ``"parquet"`` (zstd; needs the ``parquet`` extra), ``"jsonl"`` (gzip JSON
      Lines, no extra dependency) or ``"iceberg"`` (Parquet data files committed to an
      Apache Iceberg table; needs the ``iceberg`` extra; see
      :mod:`consumers.sink.iceberg`).
    * ``prefix``: key prefix of the output, the Athena table's location.
    * ``max_bytes`` / ``max_records``: flush once the buffered events' payload bytes or
      count reach this (default 64 MiB / 1,000,000).
    * ``max_span_seconds``: flush before adding an event whose arrival time is this much
      later than the first buffered event's (default 300 s). Measured on the records'
      arrival times, so a replay of the same records meets the same boundary; a consumer
      may also flush an idle buffer on a wall-clock timer (:meth:`ShardWriter.flush_if_idle`).
    * ``partition_keys``: further partitions after ``dt`` and ``hr``.
    * ``parquet_compression_level``: zstd level (pyarrow's default when None).
    * ``gzip_level``: compression level of JSON Lines files (default 3: within a few per cent
      of level 6's size at three times its speed on event JSON).
    * ``data_schema``: the declared schema of ``data`` (:mod:`consumers.data_schema`): a
      typed struct column in Parquet and Iceberg output, and events that do not fit are
      dead-lettered. None (the default) writes ``data`` as a JSON string. JSON Lines
      refuses a declared schema (its rows hold ``data`` as a JSON string for Athena's JSON
      SerDe either way; use Parquet or Iceberg for typed columns).
    """

    format: OutputFormat = "parquet"
    prefix: str = resources.OUTPUT_PREFIX
    max_bytes: int = DEFAULT_MAX_BYTES
    max_records: int = DEFAULT_MAX_RECORDS
    max_span_seconds: float = DEFAULT_MAX_SPAN_SECONDS
    partition_keys: tuple[PartitionKey, ...] = ()
    parquet_compression_level: int | None = None
    gzip_level: int = 3
    data_schema: DataSchema | None = None

    def __post_init__(self) -> None:
        if self.format not in OUTPUT_FORMATS:
            raise ConfigError("format", f"{self.format!r} is not one of {OUTPUT_FORMATS}")
        prefix = self.prefix.strip("/")
        if not prefix or "//" in prefix or prefix.startswith(("_", ".")):
            raise ConfigError(
                "prefix",
                f"{self.prefix!r} must be a non-empty key prefix without '//' that does not "
                "start with '_' or '.' (Athena skips such paths)",
            )
        object.__setattr__(self, "prefix", prefix)
        if not _MIN_BYTES <= self.max_bytes <= _MAX_BYTES:
            raise ConfigError(
                "max_bytes", f"{self.max_bytes} is outside {_MIN_BYTES}..{_MAX_BYTES}"
            )
        if not 1 <= self.max_records <= _MAX_RECORDS:
            raise ConfigError("max_records", f"{self.max_records} is outside 1..{_MAX_RECORDS}")
        if not 0 < self.max_span_seconds <= _MAX_SPAN:
            raise ConfigError(
                "max_span_seconds", f"{self.max_span_seconds} is outside (0, {_MAX_SPAN}]"
            )
        if not all(isinstance(k, PartitionKey) for k in self.partition_keys):
            raise ConfigError("partition_keys", "must be a tuple of consumers.PartitionKey")
        self.schema  # noqa: B018 - validates partition key names together
        if self.parquet_compression_level is not None and not (
            1 <= self.parquet_compression_level <= 22
        ):
            raise ConfigError(
                "parquet_compression_level", f"{self.parquet_compression_level} is outside 1..22"
            )
        if not 0 <= self.gzip_level <= 9:
            raise ConfigError("gzip_level", f"{self.gzip_level} is outside 0..9")
        if self.data_schema is not None:
            if not isinstance(self.data_schema, DataSchema):
                raise ConfigError("data_schema", "must be a consumers.DataSchema")
            if self.format == "jsonl":
                raise ConfigError(
                    "data_schema",
                    "typed data columns need format 'parquet' or 'iceberg' (JSON Lines "
                    "keeps data as a JSON string); unset SHARDFLOW_DATA_SCHEMA or change "
                    "the format",
                )

    @property
    def schema(self) -> TableSchema:
        """The table this configuration writes: :data:`consumers.schema.SCHEMA` plus the
        partition keys."""
        return SCHEMA.with_data(self.data_schema).with_partition_keys(self.partition_keys)

    @property
    def extension(self) -> str:
        """File name extension of the output objects."""
        return "json.gz" if self.format == "jsonl" else "parquet"

    @classmethod
    def from_env(
        cls,
        *,
        format: OutputFormat | None = None,
        prefix: str | None = None,
        max_bytes: int | None = None,
        max_records: int | None = None,
        max_span_seconds: float | None = None,
        partition_keys: tuple[PartitionKey, ...] = (),
        data_schema: DataSchema | None = None,
    ) -> SinkConfig:
        """Explicit arguments, then ``SHARDFLOW_OUTPUT_*`` / ``SHARDFLOW_SINK_*`` variables
        (see :mod:`shardflow.settings`; ``SHARDFLOW_DATA_SCHEMA`` is a JSON file's path),
        then the defaults."""
        fmt = format or settings.env(settings.OUTPUT_FORMAT) or "parquet"
        if data_schema is None and (path := settings.env(settings.DATA_SCHEMA)):
            data_schema = DataSchema.load(path)
        return cls(
            format=fmt,  # type: ignore[arg-type]  # validated in __post_init__
            prefix=prefix or settings.env(settings.OUTPUT_PREFIX) or resources.OUTPUT_PREFIX,
            max_bytes=max_bytes or settings.env_int(settings.SINK_MAX_BYTES, DEFAULT_MAX_BYTES),
            max_records=max_records
            or settings.env_int(settings.SINK_MAX_RECORDS, DEFAULT_MAX_RECORDS),
            max_span_seconds=max_span_seconds
            or settings.env_float(settings.SINK_MAX_SPAN_SECONDS, DEFAULT_MAX_SPAN_SECONDS),
            partition_keys=partition_keys,
            data_schema=data_schema,
        )
