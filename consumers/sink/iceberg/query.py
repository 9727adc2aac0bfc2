"""``shardflow query`` on the Iceberg table: a pyiceberg scan into DuckDB through Arrow.

The table is a DuckDB view with the name and columns the Hive table has (data columns, then
``dt``, ``hr`` and the partition keys), so the SQL of the Athena examples runs unchanged.
Only committed snapshots are read (the current one), as Athena reads them.
"""

from __future__ import annotations

import re
from typing import Any, Final

from consumers.errors import ConsumerError
from consumers.schema import SCHEMA, TableSchema
from consumers.sink.iceberg.catalog import open_catalog
from consumers.sink.iceberg.config import IcebergConfig
from shardflow import resources

_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SCAN: Final = "_shardflow_iceberg_scan"


class IcebergQueryError(ConsumerError):
    """The Iceberg table could not be read (no such table, catalog or S3 failed)."""


def scan(config: IcebergConfig, *, bucket: str, prefix: str) -> Any:
    """The table's current snapshot as a ``pyarrow.Table``."""
    from pyiceberg.exceptions import NoSuchTableError  # noqa: PLC0415

    try:
        table = open_catalog(config, bucket=bucket, prefix=prefix).load_table(config.identifier)
        return table.scan().to_arrow()
    except NoSuchTableError as exc:
        raise IcebergQueryError(f"no Iceberg table {config.table} in the catalog") from exc
    except ConsumerError:
        raise
    except Exception as exc:  # SQLAlchemy, pyarrow's S3, boto3's Glue errors
        raise IcebergQueryError(f"cannot read Iceberg table {config.table}: {exc!r}") from exc


def connect(
    arrow_table: Any,
    *,
    schema: TableSchema = SCHEMA,
    table: str = resources.GLUE_TABLE,
    database: str | None = resources.GLUE_DATABASE,
) -> Any:
    """An in-memory DuckDB connection with view ``table`` (and ``database.table``) over
    ``arrow_table`` (what :func:`scan` returns)."""
    from consumers.localquery import QueryError, _duckdb  # noqa: PLC0415

    for what, name in (("table", table), ("database", database or "x")):
        if not _IDENTIFIER.match(name):
            raise QueryError(f"{what} name {name!r} must be letters, digits and _")
    con = _duckdb().connect(":memory:")
    con.register(_SCAN, arrow_table)
    names = [
        n for n in (*schema.column_names, *schema.partition_names) if n in arrow_table.column_names
    ]
    # Identifiers come from the schema and were checked above (B608/S608: no injection).
    select = f"SELECT {', '.join(names)} FROM {_SCAN}"  # noqa: S608 # nosec B608
    con.execute(f'CREATE VIEW "{table}" AS {select}')
    if database:
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{database}"')
        sql = f'CREATE VIEW "{database}"."{table}" AS SELECT * FROM main."{table}"'  # noqa: S608 # nosec B608
        con.execute(sql)
    return con
