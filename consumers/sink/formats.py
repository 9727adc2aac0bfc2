"""File encoders: Parquet (pyarrow, zstd) and gzip JSON Lines, from one partition's columns.

Pure code. Both formats hold the same columns with the same meaning (see
:mod:`consumers.schema`): timestamps are UTC with millisecond precision (Parquet
``TIMESTAMP(MILLIS)``; JSON ``"YYYY-MM-DD HH:MM:SS.mmm"``, the form Athena's JSON SerDes
and DuckDB read as a timestamp), ``data`` and ``extensions`` are JSON strings.
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
from consumers.sink.config import SinkConfig

#: Columns holding epoch milliseconds in the buffer, written as timestamps.
_TIME_COLUMNS: Final = ("time", "arrival_time")


def encode(columns: dict[str, list[Any]], config: SinkConfig) -> bytes:
    """One object's bytes in ``config.format``."""
    if config.format == "parquet":
        return encode_parquet(columns, config.schema, config.parquet_compression_level)
    return encode_jsonl(columns, config.schema, config.gzip_level)


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


_ARROW_SCHEMAS: dict[tuple[Column, ...], Any] = {}


def encode_parquet(
    columns: dict[str, list[Any]], schema: TableSchema, compression_level: int | None = None
) -> bytes:
    """A Parquet file (zstd) of the columns."""
    pa, pq = _pyarrow()
    arrow_schema = _ARROW_SCHEMAS.get(schema.columns)
    if arrow_schema is None:
        arrow_schema = _ARROW_SCHEMAS[schema.columns] = schema.arrow_schema()
    arrays = [pa.array(columns[f.name], type=f.type) for f in arrow_schema]
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
    # Rows of one flush share a handful of seconds: format each second once.
    seconds: dict[int, str] = {}

    def format_ms(epoch_ms: int | None) -> str | None:
        if epoch_ms is None:
            return None
        secs, ms = divmod(epoch_ms, 1000)
        text = seconds.get(secs)
        if text is None:
            # Not strftime("%Y"): glibc does not zero-pad years before 1000.
            t = time.gmtime(secs)
            text = seconds[secs] = (
                f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d} "
                f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
            )
        return f"{text}.{ms:03d}"

    return format_ms


def encode_jsonl(columns: dict[str, list[Any]], schema: TableSchema, level: int = 3) -> bytes:
    """Gzip JSON Lines of the columns: one object per row, keys in schema order."""
    names = schema.column_names
    format_ms = _timestamp_formatter()
    cols = [
        [format_ms(v) for v in columns[name]] if name in _TIME_COLUMNS else columns[name]
        for name in names
    ]
    dumps = orjson.dumps
    lines = b"\n".join(dumps(dict(zip(names, row, strict=True))) for row in zip(*cols, strict=True))
    return gzip.compress(lines + b"\n", compresslevel=level, mtime=0)
