"""The Iceberg catalog and table the sink commits to: opened, or created on first use.

The table has the sink's columns (:mod:`consumers.schema`) and, as identity-partitioned
columns, ``dt`` (string ``YYYY-MM-DD``), ``hr`` (int) and each configured partition key
(string): the same values and the same SQL as the Hive layout (``WHERE dt = '...' AND hr =
14``), computed by the same code (:func:`consumers.sink.buffer.partition_ms`), rather than
Iceberg's ``day``/``hour`` transforms of ``time`` (which could not hold the Hive layout's
arrival-time fallback for events without a usable ``time``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

from consumers.data_schema import Field
from consumers.errors import SinkError
from consumers.schema import TableSchema
from consumers.sink.iceberg.config import IcebergConfig
from shardflow import aws, settings

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

#: The table property that makes pyiceberg retry a conflicting commit by itself, against
#: refreshed metadata and without the sink's coverage check; the sink retries itself.
NO_RETRY: Final = {"commit.retry.num-retries": "0"}
_PARTITION_TYPES: Final = {"dt": "string", "hr": "int"}


def _pyiceberg() -> None:
    try:
        import pyiceberg  # noqa: F401, PLC0415 - optional dependency
    except ImportError as exc:
        raise SinkError(
            "the iceberg format needs pyiceberg: pip install 'shardflow[iceberg]'"
        ) from exc


def open_catalog(config: IcebergConfig, *, bucket: str, prefix: str) -> Catalog:
    """The configured catalog. Against a local emulator (``AWS_ENDPOINT_URL``) its S3 (and
    Glue) endpoint and dummy credentials are passed on; on AWS, pyiceberg's S3 file system
    and boto3's Glue client find the credentials themselves."""
    _pyiceberg()
    endpoint = settings.endpoint_url()
    props: dict[str, str] = {
        "warehouse": config.warehouse or f"s3://{bucket}/{prefix}",
        "s3.region": settings.region(),
    }
    if endpoint:
        props["s3.endpoint"] = endpoint
    if aws.is_local_endpoint(endpoint):
        creds = aws.session().get_credentials()
        if creds is not None:
            frozen = creds.get_frozen_credentials()
            props["s3.access-key-id"] = str(frozen.access_key)
            props["s3.secret-access-key"] = str(frozen.secret_key)
    if config.catalog == "glue":
        from pyiceberg.catalog.glue import GlueCatalog  # noqa: PLC0415

        return GlueCatalog("shardflow", client=aws.client("glue"), **props)
    from pyiceberg.catalog.sql import SqlCatalog  # noqa: PLC0415

    return SqlCatalog("shardflow", uri=config.uri, **props)


def iceberg_schema(schema: TableSchema) -> tuple[Any, Any]:
    """The Iceberg schema and partition spec of the sink's table: the columns of
    ``schema`` then its partition columns, each partition an identity transform."""
    from pyiceberg.partitioning import PartitionField, PartitionSpec  # noqa: PLC0415
    from pyiceberg.schema import Schema  # noqa: PLC0415
    from pyiceberg.transforms import IdentityTransform  # noqa: PLC0415
    from pyiceberg.types import (  # noqa: PLC0415
        IcebergType,
        IntegerType,
        LongType,
        NestedField,
        StringType,
        TimestampType,
    )

    types: dict[str, IcebergType] = {
        "string": StringType(),
        "bigint": LongType(),
        "int": IntegerType(),
        "timestamp": TimestampType(),
    }
    arrow = schema.arrow_schema()
    # Nested field ids after every top-level one (create_table assigns fresh ids anyway).
    nested_ids = itertools.count(1000)
    fields = [
        NestedField(
            i,
            f.name,
            iceberg_type(schema.data.root, nested_ids)
            if c.name == "data" and schema.data is not None
            else types[c.type],
            required=not f.nullable,
            doc=c.comment,
        )
        for i, (c, f) in enumerate(zip(schema.columns, arrow, strict=True), start=1)
    ]
    part_fields: list[PartitionField] = []
    for j, p in enumerate(schema.partitions, start=len(fields) + 1):
        fields.append(NestedField(j, p.name, types[p.type], required=True, doc=p.comment))
        part_fields.append(
            PartitionField(
                source_id=j,
                field_id=999 + len(part_fields) + 1,
                transform=IdentityTransform(),
                name=p.name,
            )
        )
    return Schema(*fields), PartitionSpec(*part_fields)


def iceberg_type(field: Field, ids: Iterator[int]) -> Any:
    """The Iceberg type of a declared ``data`` field (:mod:`consumers.data_schema`)."""
    from pyiceberg.types import (  # noqa: PLC0415
        BooleanType,
        DoubleType,
        ListType,
        LongType,
        NestedField,
        StringType,
        StructType,
        TimestampType,
    )

    if field.kind == "object":
        return StructType(
            *(
                NestedField(next(ids), name, iceberg_type(f, ids), required=not f.optional)
                for name, f in field.fields
            )
        )
    if field.kind == "array":
        assert field.items is not None
        return ListType(next(ids), iceberg_type(field.items, ids), element_required=False)
    return {
        "string": StringType,
        "integer": LongType,
        "number": DoubleType,
        "boolean": BooleanType,
        "timestamp": TimestampType,
    }[field.kind]()


def evolve(table: Table, schema: TableSchema) -> Table:
    """``table`` with the fields ``schema`` declares in ``data`` and the table lacks added
    (Iceberg schema evolution: a new optional field is a compatible change; old data files
    read it as NULL). A table that has them all is returned as it is, without a commit."""
    if schema.data is None:
        return table
    wanted, _ = iceberg_schema(schema)
    current = table.schema()
    if _names(wanted.find_field("data").field_type) <= _names(
        current.find_field("data").field_type
    ):
        return table
    try:
        with table.update_schema() as update:
            update.union_by_name(wanted)
    except ValueError as exc:  # pyiceberg's refusal of an incompatible change
        raise SinkError(
            f"the Iceberg table's data column cannot take the declared data schema: {exc}"
        ) from exc
    return table


def _names(struct: Any, prefix: str = "") -> set[str]:
    # Every nested field's dotted path, lists by their element.
    from pyiceberg.types import ListType, StructType  # noqa: PLC0415

    names: set[str] = set()
    if isinstance(struct, ListType):
        return _names(struct.element_type, prefix + "[]")
    if isinstance(struct, StructType):
        for f in struct.fields:
            path = f"{prefix}.{f.name}"
            names.add(path)
            names |= _names(f.field_type, path)
    return names


def arrow_schema(schema: TableSchema) -> Any:
    """The Arrow schema of what the sink appends: data columns, then partition columns."""
    import pyarrow as pa  # noqa: PLC0415

    types = {"string": pa.string(), "int": pa.int32()}
    base = schema.arrow_schema()
    return pa.schema(
        [*base, *(pa.field(p.name, types[p.type], nullable=False) for p in schema.partitions)]
    )


def open_table(catalog: Catalog, config: IcebergConfig, schema: TableSchema) -> Table:
    """The table, created (with its namespace) when absent. A table created by someone
    else is used as it is (its schema must accept the sink's columns), but for the fields a
    declared data schema adds to ``data``: :func:`evolve`."""
    from pyiceberg.exceptions import NoSuchTableError  # noqa: PLC0415

    namespace, _ = config.identifier
    try:
        return evolve(catalog.load_table(config.identifier), schema)
    except NoSuchTableError:
        pass
    ice_schema, spec = iceberg_schema(schema)
    catalog.create_namespace_if_not_exists(namespace)
    return catalog.create_table_if_not_exists(
        config.identifier, schema=ice_schema, partition_spec=spec, properties=dict(NO_RETRY)
    )
