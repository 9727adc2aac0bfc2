"""The producer's settings: one frozen dataclass, validated on construction.

Precedence: an explicit argument, then ``SHARDFLOW_PRODUCER_<FIELD>`` in the environment
(see :meth:`ProducerConfig.from_env`), then the default. The defaults match the AWS limits
of a provisioned stream: 500 records and 5 MiB per PutRecords request, 1 MiB per record,
and 1,000 records or 1 MiB per second per shard.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from shardflow import settings
from shardflow.errors import ConfigError

__all__ = ["ProducerConfig"]

MIB: Final = 1024 * 1024
#: PutRecords takes at most 500 entries.
MAX_BATCH_RECORDS: Final = 500
#: Kinesis streams accept records of up to 10 MiB (when the stream's MaxRecordSize allows).
MAX_RECORD_BYTES_LIMIT: Final = 10 * MIB
MAX_REQUEST_BYTES_LIMIT: Final = 10 * MIB


@dataclass(frozen=True, slots=True)
class ProducerConfig:
    """How :class:`~producers.EventProducer` batches, aggregates, retries and limits.

    Every field can also come from ``SHARDFLOW_PRODUCER_<FIELD>`` through :meth:`from_env`.
    """

    #: Pack many events into one Kinesis record in the KPL format (what KCL, Lambda with
    #: powertools, and ``aws_kinesis_agg`` de-aggregate). Off: one Kinesis record per event.
    aggregation: bool = True
    #: Longest time (seconds) a record waits in the buffer before a PutRecords call is due.
    max_buffer_time: float = 0.1
    #: Entries per PutRecords call (AWS maximum 500).
    max_batch_records: int = MAX_BATCH_RECORDS
    #: Largest Kinesis record, data plus partition key (AWS: 1 MiB, or up to 10 MiB when the
    #: stream's MaxRecordSize was raised). Also the largest aggregate.
    max_record_bytes: int = MIB
    #: Largest PutRecords call, data plus partition keys (AWS: 5 MiB).
    max_request_bytes: int = 5 * MIB
    #: A record not delivered this many seconds after ``put`` fails with
    #: :class:`~producers.RecordExpiredError`.
    record_ttl: float = 30.0
    #: First retry delay (seconds); doubles per attempt, full jitter, capped by the next.
    retry_base_delay: float = 0.1
    retry_max_delay: float = 5.0
    #: Client-side per-shard limits (None: off). They keep the producer from provoking
    #: throttling; the AWS limits of a provisioned shard are the defaults.
    shard_records_per_second: int | None = 1000
    shard_bytes_per_second: int | None = MIB
    #: Bytes of records buffered and not yet delivered; ``put`` blocks when it is reached.
    max_buffer_bytes: int = 64 * MIB
    #: How long ``put`` blocks for buffer space before raising
    #: :class:`~producers.BufferFullError` (0: never block, None: wait as long as it takes).
    put_timeout: float | None = 30.0
    #: Concurrent PutRecords calls (each to a disjoint set of shards).
    max_in_flight_requests: int = 4
    #: The envelope's ``source`` for events that do not name one.
    source: str = "shardflow"
    #: Partition keys whose shard is remembered (0: hash every record).
    partition_key_cache_size: int = 65536
    #: Least time (seconds) between two shard map refreshes (ListShards), so a stream that
    #: keeps answering with unexpected shard ids cannot make the producer poll it in a loop.
    shard_map_refresh_interval: float = 1.0

    def __post_init__(self) -> None:
        _check_int(self, "max_batch_records", 1, MAX_BATCH_RECORDS)
        _check_int(self, "max_record_bytes", 1024, MAX_RECORD_BYTES_LIMIT)
        _check_int(self, "max_request_bytes", self.max_record_bytes, MAX_REQUEST_BYTES_LIMIT)
        _check_int(self, "max_buffer_bytes", self.max_record_bytes, None)
        _check_int(self, "max_in_flight_requests", 1, 64)
        _check_int(self, "partition_key_cache_size", 0, None)
        for name in ("shard_records_per_second", "shard_bytes_per_second"):
            if getattr(self, name) is not None:
                _check_int(self, name, 1, None)
        _check_float(self, "max_buffer_time", 0.0, 3600.0)
        _check_float(self, "record_ttl", 0.001, None)
        _check_float(self, "retry_base_delay", 0.001, None)
        _check_float(self, "retry_max_delay", self.retry_base_delay, None)
        _check_float(self, "shard_map_refresh_interval", 0.0, None)
        if self.put_timeout is not None:
            _check_float(self, "put_timeout", 0.0, None)
        if not isinstance(self.aggregation, bool):
            raise ConfigError("aggregation", f"must be a bool, got {self.aggregation!r}")
        if not isinstance(self.source, str) or not self.source:
            raise ConfigError("source", f"must be a non-empty string, got {self.source!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ProducerConfig:
        """A config from ``SHARDFLOW_PRODUCER_<FIELD>`` variables; ``overrides`` win over them.

        Booleans accept ``true/false/1/0/yes/no/on/off``; optional limits accept ``none``
        (or ``off``) to switch them off. A value that does not parse raises
        :class:`~shardflow.errors.ConfigError` naming the variable.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            var = settings.PRODUCER_ENV_PREFIX + field.name.upper()
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            try:
                values[field.name] = _PARSERS[field.name](raw.strip())
            except ValueError as exc:
                raise ConfigError(var, f"cannot parse {raw!r}: {exc}") from exc
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(sorted(unknown)[0], "is not a ProducerConfig field")
        values.update(overrides)
        return cls(**values)


def _check_int(cfg: ProducerConfig, name: str, low: int, high: int | None) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(name, f"must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ConfigError(name, f"must be {bound}, got {value}")


def _check_float(cfg: ProducerConfig, name: str, low: float, high: float | None) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ConfigError(name, f"must be a number of seconds, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ConfigError(name, f"must be {bound}, got {value}")


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_NONE = frozenset({"none", "off", "null"})


def _parse_bool(raw: str) -> bool:
    low = raw.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError("expected true or false")


def _optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_optional(raw: str) -> Any:
        return None if raw.lower() in _NONE else parse(raw)

    return parse_optional


_PARSERS: Final[dict[str, Callable[[str], Any]]] = {
    "aggregation": _parse_bool,
    "max_buffer_time": float,
    "max_batch_records": int,
    "max_record_bytes": int,
    "max_request_bytes": int,
    "record_ttl": float,
    "retry_base_delay": float,
    "retry_max_delay": float,
    "shard_records_per_second": _optional(int),
    "shard_bytes_per_second": _optional(int),
    "max_buffer_bytes": int,
    "put_timeout": _optional(float),
    "max_in_flight_requests": int,
    "source": str,
    "partition_key_cache_size": int,
    "shard_map_refresh_interval": float,
}
