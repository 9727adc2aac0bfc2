"""File encoders: Parquet (pyarrow, zstd) and gzip JSON Lines, from one partition's columns.

Pure code. Both formats hold the same columns with the same meaning (see
:mod:`consumers.schema`): timestamps are UTC with millisecond precision (Parquet
``TIMESTAMP(MILLIS)``; JSON ``"YYYY-MM-DD HH:MM:SS.mmm"``, the form Athena's JSON SerDes
and DuckDB read as a timestamp), ``data`` and ``extensions`` are JSON strings, except
``data`` in Parquet with a declared data schema: a struct column
(:mod:`consumers.data_schema`, :func:`arrow_arrays`).
pyarrow is imported on first use, so JSON Lines needs no extra dependency.
"""

from __future__ import annotations

import gzip
import io
import time
from collections.abc import Callable
from typing import Any, Final

import orjson

from consumers.errors import SinkError
from consumers.schema import Column, TableSchema
from consumers.sink.buffer import Columns, Row
from consumers.sink.config import SinkConfig

#: Columns holding epoch milliseconds in the buffer, written as timestamps.
_TIME_COLUMNS: Final = ("time", "arrival_time")


def encode(columns: dict[str, list[Any]], config: SinkConfig) -> bytes:
    """One object's bytes in ``config.format``."""
    if config.format == "parquet":
        return encode_parquet(columns, config.schema, config.parquet_compression_level)
    return encode_jsonl(columns, config.schema, config.gzip_level)


def encode_partition(columns: Columns, *, stream: str, shard_id: str, config: SinkConfig) -> bytes:
    """One partition of a flush as an object's bytes: what :func:`encode` gives for
    ``columns.as_dict(stream, shard_id)``, without turning JSON Lines rows into columns and
    back."""
    if config.format == "parquet":
        return encode_parquet(
            columns.as_dict(stream, shard_id), config.schema, config.parquet_compression_level
        )
    return encode_jsonl_rows(columns.rows, stream, shard_id, config.gzip_level)


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa  # noqa: PLC0415 - optional dependency, loaded on first use
        import pyarrow.parquet as pq  # noqa: PLC0415
    except ImportError as exc:
        raise SinkError(
            "the parquet format needs pyarrow: pip install 'shardflow[parquet]' "
            "(or use format='jsonl')"
        ) from exc
    return pa, pq


_ARROW_SCHEMAS: dict[tuple[tuple[Column, ...], object], Any] = {}


def arrow_arrays(
    columns: dict[str, list[Any]], arrow_schema: Any, schema: TableSchema
) -> list[Any]:
    """The pyarrow arrays of ``columns`` in ``arrow_schema``'s order; with a declared data
    schema (``schema.data``), the buffered JSON strings of ``data`` as its struct values
    (the pipeline has checked that each fits)."""
    pa, _ = _pyarrow()
    data = schema.data
    if data is not None:
        loads, to_row = orjson.loads, data.to_row
        columns = {
            **columns,
            "data": [None if text is None else to_row(loads(text)) for text in columns["data"]],
        }
    return [pa.array(columns[f.name], type=f.type) for f in arrow_schema]


def encode_parquet(
    columns: dict[str, list[Any]], schema: TableSchema, compression_level: int | None = None
) -> bytes:
    """A Parquet file (zstd) of the columns."""
    pa, pq = _pyarrow()
    key = (schema.columns, schema.data)
    arrow_schema = _ARROW_SCHEMAS.get(key)
    if arrow_schema is None:
        arrow_schema = _ARROW_SCHEMAS[key] = schema.arrow_schema()
    arrays = arrow_arrays(columns, arrow_schema, schema)
    table = pa.Table.from_arrays(arrays, schema=arrow_schema)
    out = io.BytesIO()
    pq.write_table(
        table,
        out,
        compression="zstd",
        compression_level=compression_level,
        # Athena and DuckDB read statistics to skip row groups; dictionary pages shrink the
        # repetitive columns (stream, shard, type, source).
        write_statistics=True,
        use_dictionary=True,
    )
    return out.getvalue()


def _timestamp_formatter() -> Callable[[int | None], str | None]:
    # Rows of one flush share a handful of seconds: format each second once. The user
    # records of an aggregate share their arrival time: the last value is kept too.
    seconds: dict[int, str] = {}
    last: list[Any] = [None, None]

    def format_ms(epoch_ms: int | None) -> str | None:
        if epoch_ms is None:
            return None
        if epoch_ms == last[0]:
            formatted: str = last[1]
            return formatted
        secs, ms = divmod(epoch_ms, 1000)
        text = seconds.get(secs)
        if text is None:
            # Not strftime("%Y"): glibc does not zero-pad years before 1000.
            t = time.gmtime(secs)
            text = seconds[secs] = (
                f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d} "
                f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
            )
        last[0] = epoch_ms
        last[1] = formatted = f"{text}.{ms:03d}"
        return formatted

    return format_ms


def encode_jsonl(columns: dict[str, list[Any]], schema: TableSchema, level: int = 3) -> bytes:
    """Gzip JSON Lines of the columns: one object per row, keys in schema order."""
    names = schema.column_names
    cols = [
        [*map(_timestamp_formatter(), columns[name])] if name in _TIME_COLUMNS else columns[name]
        for name in names
    ]
    dumps = orjson.dumps
    lines = b"\n".join(dumps(dict(zip(names, row, strict=True))) for row in zip(*cols, strict=True))
    return gzip.compress(lines + b"\n", compresslevel=level, mtime=0)


def encode_jsonl_rows(rows: list[Row], stream: str, shard_id: str, level: int = 3) -> bytes:
    """Gzip JSON Lines straight from a buffer's rows (:data:`consumers.sink.buffer.Row`),
    byte for byte what :func:`encode_jsonl` writes for the same rows as columns."""
    # One formatter per column: each keeps its last value (an aggregate's arrival time).
    format_time, format_arrival = _timestamp_formatter(), _timestamp_formatter()
    dumps = orjson.dumps
    # Keys in schema order (a test holds this to consumers.schema.SCHEMA).
    lines = b"\n".join(
        [
            dumps(
                {
                    "id": id_,
                    "source": source,
                    "type": type_,
                    "time": format_time(time_ms),
                    "specversion": specversion,
                    "data": data,
                    "extensions": extensions,
                    "stream": stream,
                    "shard_id": shard_id,
                    "sequence_number": seq,
                    "sub_sequence_number": sub,
                    "partition_key": pkey,
                    "arrival_time": format_arrival(arrival_ms),
                }
            )
            for (
                id_,
                source,
                type_,
                time_ms,
                specversion,
                data,
                extensions,
                seq,
                sub,
                pkey,
                arrival_ms,
            ) in rows
        ]
    )
    return gzip.compress(lines + b"\n", compresslevel=level, mtime=0)
