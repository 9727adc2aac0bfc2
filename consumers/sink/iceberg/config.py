"""Where the Iceberg output goes: the catalog, its warehouse and the table's name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from shardflow import settings
from shardflow.errors import ConfigError

CatalogKind = Literal["sql", "glue"]
CATALOG_KINDS: Final[tuple[CatalogKind, ...]] = ("sql", "glue")
DEFAULT_CATALOG_URI: Final = "sqlite:///shardflow-iceberg.db"
DEFAULT_TABLE: Final = "shardflow.events"


@dataclass(frozen=True, slots=True)
class IcebergConfig:
    """The Iceberg table the sink commits to.

    * ``catalog``: ``"sql"`` (a SQL database through SQLAlchemy: a SQLite file locally) or
      ``"glue"`` (AWS Glue, the catalog Athena reads).
    * ``uri``: the SQL catalog's SQLAlchemy URI (unused by Glue).
    * ``warehouse``: where a new table's files go, ``s3://bucket/prefix``; None means
      ``s3://BUCKET/PREFIX`` of the sink.
    * ``table``: ``namespace.table`` (a Glue database and table).
    """

    catalog: CatalogKind = "sql"
    uri: str = DEFAULT_CATALOG_URI
    warehouse: str | None = None
    table: str = DEFAULT_TABLE

    def __post_init__(self) -> None:
        if self.catalog not in CATALOG_KINDS:
            raise ConfigError("iceberg.catalog", f"{self.catalog!r} is not one of {CATALOG_KINDS}")
        parts = self.table.split(".")
        if len(parts) != 2 or not all(parts):
            raise ConfigError("iceberg.table", f"{self.table!r} must be namespace.table")
        if self.warehouse is not None and not self.warehouse.startswith("s3://"):
            raise ConfigError("iceberg.warehouse", f"{self.warehouse!r} must be an s3:// URL")
        if self.catalog == "sql" and not self.uri:
            raise ConfigError("iceberg.uri", "the sql catalog needs a SQLAlchemy URI")

    @property
    def identifier(self) -> tuple[str, str]:
        """``(namespace, table)``."""
        namespace, name = self.table.split(".")
        return namespace, name

    @classmethod
    def from_env(
        cls,
        *,
        catalog: CatalogKind | None = None,
        uri: str | None = None,
        warehouse: str | None = None,
        table: str | None = None,
    ) -> IcebergConfig:
        """Explicit arguments, then ``SHARDFLOW_ICEBERG_*`` (see :mod:`shardflow.settings`),
        then the defaults."""
        return cls(
            catalog=catalog or settings.env(settings.ICEBERG_CATALOG) or "sql",  # type: ignore[arg-type]  # validated in __post_init__
            uri=uri or settings.env(settings.ICEBERG_CATALOG_URI) or DEFAULT_CATALOG_URI,
            warehouse=warehouse or settings.env(settings.ICEBERG_WAREHOUSE),
            table=table or settings.env(settings.ICEBERG_TABLE) or DEFAULT_TABLE,
        )
