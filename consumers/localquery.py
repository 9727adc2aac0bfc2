"""Athena-style SQL on the sink's output, locally, with DuckDB (``shardflow query``).

The table is a DuckDB view with the name and columns the Athena DDL declares
(:data:`consumers.schema.SCHEMA`), over the Parquet and/or gzip JSON Lines files of a local
folder laid out like the S3 prefix (``dt=…/hr=…/``, Hive partitioning on, partition columns
typed as in Athena). Output in S3 (the emulator's or AWS') is downloaded to a temporary
folder first: DuckDB's ``httpfs`` extension is downloaded from the internet on first use,
which a machine without internet access (CI here) cannot do.

Needs the ``query`` extra (duckdb), imported on first use.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from consumers.errors import ConsumerError
from consumers.schema import SCHEMA, TableSchema
from consumers.sink.layout import MANIFESTS_DIR
from shardflow import resources

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

logger = logging.getLogger(__name__)

_EXTENSIONS: Final = {"parquet": ".parquet", "jsonl": ".json.gz"}
_DOWNLOAD_THREADS: Final = 8
_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class QueryError(ConsumerError):
    """The query could not run: DuckDB missing, no such folder, S3 unreadable, bad SQL."""


def _duckdb() -> Any:
    try:
        import duckdb  # noqa: PLC0415 - optional dependency
    except ImportError as exc:
        raise QueryError("shardflow query needs duckdb: pip install 'shardflow[query]'") from exc
    return duckdb


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _hive_types(schema: TableSchema) -> str:
    return (
        "{"
        + ", ".join(f"{_sql_text(p.name)}: {_sql_text(p.duckdb_type)}" for p in schema.partitions)
        + "}"
    )


def _source(root: Path, fmt: str, schema: TableSchema) -> str:
    depth = "/".join(f"{p.name}=*" for p in schema.partitions)
    pattern = _sql_text(f"{root.as_posix()}/{depth}/*{_EXTENSIONS[fmt]}")
    hive = f"hive_partitioning = true, hive_types = {_hive_types(schema)}"
    if fmt == "parquet":
        return f"read_parquet({pattern}, {hive}, union_by_name = true)"
    columns = (
        "{"
        + ", ".join(f"{_sql_text(c.name)}: {_sql_text(c.duckdb_type)}" for c in schema.columns)
        + "}"
    )
    return (
        f"read_json({pattern}, format = 'newline_delimited', compression = 'gzip', "
        f"columns = {columns}, timestampformat = '%Y-%m-%d %H:%M:%S.%g', {hive})"
    )


def _empty(schema: TableSchema) -> str:
    cols = [f"CAST(NULL AS {c.duckdb_type}) AS {c.name}" for c in schema.columns]
    cols += [f"CAST(NULL AS {p.duckdb_type}) AS {p.name}" for p in schema.partitions]
    return f"SELECT {', '.join(cols)} WHERE false"


def _present(root: Path, fmt: str) -> bool:
    return any(True for _ in root.rglob(f"*{_EXTENSIONS[fmt]}"))


def connect(
    root: str | Path,
    *,
    schema: TableSchema = SCHEMA,
    table: str = resources.GLUE_TABLE,
    database: str | None = resources.GLUE_DATABASE,
    formats: Sequence[str] = ("parquet", "jsonl"),
) -> Any:
    """An in-memory DuckDB connection with view ``table`` (and ``database.table``) over the
    sink's files under ``root`` (the folder that holds ``dt=…``)."""
    duckdb = _duckdb()
    for what, name in (("table", table), ("database", database or "x")):
        if not _IDENTIFIER.match(name):
            raise QueryError(f"{what} name {name!r} must be letters, digits and _")
    root = Path(root)
    if not root.is_dir():
        raise QueryError(f"{root} is not a folder")
    con = duckdb.connect(":memory:")
    # Identifiers come from the schema and were checked above; paths are quoted literals
    # (no SQL injection: bandit B608 and ruff S608 are silenced for that reason).
    selects = [
        f"SELECT {', '.join(schema.column_names + schema.partition_names)} FROM "  # noqa: S608 # nosec B608
        f"{_source(root, fmt, schema)}"
        for fmt in formats
        if _present(root, fmt)
    ] or [_empty(schema)]
    con.execute(f'CREATE VIEW "{table}" AS {" UNION ALL ".join(selects)}')
    if database:
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{database}"')
        # Both names matched _IDENTIFIER above (B608/S608: no injection).
        sql = f'CREATE VIEW "{database}"."{table}" AS SELECT * FROM main."{table}"'  # noqa: S608 # nosec B608
        con.execute(sql)
    return con


def download(s3_client: S3Client, bucket: str, prefix: str, dest: str | Path) -> int:
    """Copy the sink's data objects under ``s3://bucket/prefix/`` to ``dest`` (same
    relative layout, manifests skipped); returns how many were copied."""
    prefix = prefix.strip("/") + "/"
    dest = Path(dest)
    keys: list[str] = []
    try:
        for page in s3_client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix
        ):
            keys += [
                o["Key"]
                for o in page.get("Contents", [])
                if not o["Key"][len(prefix) :].startswith(MANIFESTS_DIR)
                and o["Key"].endswith(tuple(_EXTENSIONS.values()))
            ]
    except (ClientError, BotoCoreError) as exc:
        raise QueryError(f"cannot list s3://{bucket}/{prefix}: {exc}") from exc

    def fetch(key: str) -> None:
        target = dest / key[len(prefix) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        s3_client.download_file(bucket, key, str(target))

    try:
        with ThreadPoolExecutor(_DOWNLOAD_THREADS) as pool:
            list(pool.map(fetch, keys))
    except (ClientError, BotoCoreError) as exc:
        raise QueryError(f"cannot download from s3://{bucket}/{prefix}: {exc}") from exc
    logger.info("downloaded %d object(s) from s3://%s/%s", len(keys), bucket, prefix)
    return len(keys)


@contextmanager
def connect_s3(
    s3_client: S3Client,
    bucket: str,
    prefix: str,
    *,
    schema: TableSchema = SCHEMA,
    table: str = resources.GLUE_TABLE,
    database: str | None = resources.GLUE_DATABASE,
    formats: Sequence[str] = ("parquet", "jsonl"),
) -> Iterator[Any]:
    """:func:`connect` over a temporary copy of ``s3://bucket/prefix/``."""
    with tempfile.TemporaryDirectory(prefix="shardflow-query-") as tmp:
        download(s3_client, bucket, prefix, tmp)
        con = connect(tmp, schema=schema, table=table, database=database, formats=formats)
        try:
            yield con
        finally:
            con.close()


def run(con: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of ``sql``; DuckDB errors become :class:`QueryError`."""
    duckdb = _duckdb()
    try:
        cur = con.execute(sql)
        rows: list[tuple[Any, ...]] = cur.fetchall()
    except duckdb.Error as exc:
        raise QueryError(f"query failed: {exc}") from exc
    names = [d[0] for d in cur.description] if cur.description else []
    return names, rows
