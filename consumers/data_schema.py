"""The declared schema of the events' ``data``: typed columns instead of a JSON string.

A JSON Schema subset, parsed once into a :class:`DataSchema` that gives everything the
sink and the table need from the same declaration:

* :meth:`DataSchema.arrow_type`: the ``pyarrow`` struct of the ``data`` column (Parquet and
  Iceberg);
* :attr:`DataSchema.hive_type`: its Athena/Hive type (``struct<amount:double,...>``), for
  the DDL, the Glue table and ``shardflow query``;
* :meth:`DataSchema.mismatch`: the path of the first field of an event's ``data`` that does
  not fit the schema of its ``type`` (one schema for all, or one per event type, the
  column's struct their union), or None; the pipeline dead-letters such an event
  (``reason: schema_mismatch``) before the writer sees it;
* :meth:`DataSchema.to_row`: a fitting ``data`` as the value pyarrow writes (timestamps as
  datetimes).

The subset: ``{"type": "object", "properties": {...}, "required": [...]}`` at the root and
for nested objects; ``string``, ``integer`` (64-bit), ``number`` (double), ``boolean``,
``string`` with ``"format": "date-time"`` (a timestamp: RFC 3339 with an offset, stored as
UTC milliseconds), and ``array`` with ``items``. A field not in ``required`` may be absent
or null. A field that is not declared is a mismatch: the struct column has no place for it,
and writing the event without it would write it half. An event without ``data`` (or with
``null``) gets a NULL ``data``.

Pure code; pyarrow is imported only by :meth:`DataSchema.arrow_type`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from shardflow.errors import ConfigError

#: What a declared field holds.
Kind = Literal["string", "integer", "number", "boolean", "timestamp", "object", "array"]

_SCALAR_HIVE: Final[dict[str, str]] = {
    "string": "string",
    "integer": "bigint",
    "number": "double",
    "boolean": "boolean",
    "timestamp": "timestamp",
}
#: Field names Athena, Glue and DuckDB all keep as they are (Athena lower-cases names).
_FIELD_RE: Final = re.compile(r"^[a-z_][a-z0-9_]{0,127}$")
_INT64: Final = (-(2**63), 2**63 - 1)


@dataclass(frozen=True, slots=True)
class Field:
    """One declared value: its kind, whether it may be absent or null, and its parts
    (``fields`` of an object, ``items`` of an array)."""

    kind: Kind
    optional: bool = True
    fields: tuple[tuple[str, Field], ...] = ()
    items: Field | None = None

    @property
    def hive_type(self) -> str:
        """The Athena/Hive type of the value."""
        if self.kind == "object":
            return "struct<" + ",".join(f"{n}:{f.hive_type}" for n, f in self.fields) + ">"
        if self.kind == "array":
            assert self.items is not None
            return f"array<{self.items.hive_type}>"
        return _SCALAR_HIVE[self.kind]

    @property
    def duckdb_type(self) -> str:
        """The DuckDB type of the value (``shardflow query``)."""
        if self.kind == "object":
            return "STRUCT(" + ", ".join(f"{n} {f.duckdb_type}" for n, f in self.fields) + ")"
        if self.kind == "array":
            assert self.items is not None
            return f"{self.items.duckdb_type}[]"
        return {
            "string": "VARCHAR",
            "integer": "BIGINT",
            "number": "DOUBLE",
            "boolean": "BOOLEAN",
            "timestamp": "TIMESTAMP",
        }[self.kind]

    def arrow_type(self) -> Any:
        """The ``pyarrow`` type of the value."""
        import pyarrow as pa  # noqa: PLC0415 - optional dependency

        if self.kind == "object":
            return pa.struct(
                [pa.field(n, f.arrow_type(), nullable=f.optional) for n, f in self.fields]
            )
        if self.kind == "array":
            assert self.items is not None
            return pa.list_(pa.field("item", self.items.arrow_type(), nullable=True))
        return {
            "string": pa.string(),
            "integer": pa.int64(),
            "number": pa.float64(),
            "boolean": pa.bool_(),
            # Naive UTC millis, as the table's other timestamps.
            "timestamp": pa.timestamp("ms"),
        }[self.kind]

    def mismatch(self, value: Any, path: str) -> str | None:
        """``path`` (or a path below it) when ``value`` does not fit, else None."""
        if value is None:
            return None if self.optional else path
        if self.kind == "object":
            return self._object_mismatch(value, path)
        if self.kind == "array":
            return self._array_mismatch(value, path)
        return None if _fits(self.kind, value) else path

    def _object_mismatch(self, value: Any, path: str) -> str | None:
        if not isinstance(value, dict):
            return path
        declared = dict(self.fields)
        for name in value:
            if name not in declared:
                return f"{path}.{name}"
        for name, part in self.fields:
            bad = part.mismatch(value.get(name), f"{path}.{name}")
            if bad is not None:
                return bad
        return None

    def _array_mismatch(self, value: Any, path: str) -> str | None:
        if not isinstance(value, list):
            return path
        assert self.items is not None
        for i, item in enumerate(value):
            bad = self.items.mismatch(item, f"{path}[{i}]")
            if bad is not None:
                return bad
        return None

    def to_row(self, value: Any) -> Any:
        """A fitting ``value`` as pyarrow takes it for :meth:`arrow_type`."""
        if value is None:
            return None
        if self.kind == "object":
            return {n: f.to_row(value.get(n)) for n, f in self.fields}
        if self.kind == "array":
            assert self.items is not None
            items = self.items
            return [items.to_row(v) for v in value]
        if self.kind == "timestamp":
            return _timestamp(value)
        if self.kind == "number":
            return float(value)
        return value


def _timestamp(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC).replace(tzinfo=None)


def _fits(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        is_int = isinstance(value, int) and not isinstance(value, bool)
        return is_int and _INT64[0] <= value <= _INT64[1]
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    # A timestamp: an RFC 3339 string with an offset (a naive time has no UTC meaning).
    return isinstance(value, str) and _timestamp(value) is not None


@dataclass(frozen=True, slots=True)
class DataSchema:
    """The parsed declaration of ``data``.

    ``root`` is the type of the ``data`` column: the one schema, or with schemas per event
    ``type`` their union (:func:`merge`: every field of every type, optional unless the
    same in all). ``by_type`` are the per-type schemas an event's ``data`` must fit,
    ``default`` the schema of any other type (None: another type is a mismatch).

    Build one with :meth:`parse` (a JSON Schema document) or :meth:`load` (a JSON file).
    """

    root: Field
    by_type: tuple[tuple[str, Field], ...] = ()
    default: Field | None = None

    @classmethod
    def parse(cls, document: Mapping[str, Any]) -> DataSchema:
        """The schema declared by ``document``: an object schema for every event, or
        ``{"types": {"<type>": <object schema>, ...}, "default": <object schema>}`` (the
        default optional) for one per event ``type``. Raises :class:`ConfigError` naming
        the first part outside the subset."""
        if "type" not in document and "types" in document:
            return cls._per_type(document)
        root = _object_root(document, "data")
        return cls(root, default=root)

    @classmethod
    def _per_type(cls, document: Mapping[str, Any]) -> DataSchema:
        types = document["types"]
        if not isinstance(types, Mapping) or not types:
            raise ConfigError("data_schema", "types must map event types to object schemas")
        unknown = set(document) - {"types", "default"}
        if unknown:
            raise ConfigError("data_schema", f"unknown keys beside types: {sorted(unknown)}")
        by_type = tuple(
            (str(name), _object_root(sub, f"types[{name}].data")) for name, sub in types.items()
        )
        default = (
            _object_root(document["default"], "default.data") if "default" in document else None
        )
        parts = [f for _, f in by_type] + ([default] if default is not None else [])
        root = parts[0]
        for part in parts[1:]:
            root = merge(root, part, "data")
        return cls(root, by_type, default)

    @classmethod
    def load(cls, path: str | Path) -> DataSchema:
        """The schema in the JSON file at ``path``."""
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError("data_schema", f"cannot read {path}: {exc}") from exc
        if not isinstance(document, dict):
            raise ConfigError("data_schema", f"{path} must hold a JSON object")
        return cls.parse(document)

    @property
    def hive_type(self) -> str:
        """The Athena/Hive type of the ``data`` column."""
        return self.root.hive_type

    @property
    def duckdb_type(self) -> str:
        """The DuckDB type of the ``data`` column."""
        return self.root.duckdb_type

    def arrow_type(self) -> Any:
        """The ``pyarrow`` struct type of the ``data`` column."""
        return self.root.arrow_type()

    def mismatch(self, data: Any, event_type: str | None = None) -> str | None:
        """The path of the first field of ``data`` that does not fit (``data`` itself, or
        ``data.a.b[3]``) the schema of ``event_type``, or None when it fits. An event of a
        type without a schema (and no default) fails at ``data``."""
        schema = self.default
        for name, part in self.by_type:
            if name == event_type:
                schema = part
                break
        if schema is None:
            return "data"
        return schema.mismatch(data, "data")

    def to_row(self, data: Any) -> Any:
        """A fitting ``data`` as the value of the ``data`` column."""
        return self.root.to_row(data)


def merge(a: Field, b: Field, path: str) -> Field:
    """The field that holds the values of both: fields of objects united by name (optional
    unless required in both), items of arrays merged; a name of two kinds is a
    :class:`ConfigError` (one column cannot hold both)."""
    if a.kind != b.kind:
        raise ConfigError("data_schema", f"{path} is {a.kind} in one type and {b.kind} in another")
    optional = a.optional or b.optional
    if a.kind == "object":
        theirs = dict(b.fields)
        fields = []
        for name, mine in a.fields:
            other = theirs.pop(name, None)
            sub = f"{path}.{name}"
            fields.append((name, _optional(mine) if other is None else merge(mine, other, sub)))
        fields += [(name, _optional(f)) for name, f in theirs.items()]
        return Field("object", optional, tuple(fields))
    if a.kind == "array":
        assert a.items is not None and b.items is not None
        return Field("array", optional, items=merge(a.items, b.items, f"{path}[]"))
    return Field(a.kind, optional)


def _optional(f: Field) -> Field:
    return Field(f.kind, True, f.fields, f.items)


def _object_root(node: Any, path: str) -> Field:
    root = _parse(node, path, optional=True)
    if root.kind != "object":
        raise ConfigError("data_schema", f"{path}: the root of a schema must be an object")
    return root


def _parse(node: Any, path: str, *, optional: bool) -> Field:
    if not isinstance(node, Mapping):
        raise ConfigError("data_schema", f"{path}: a field's schema must be an object")
    kind = node.get("type")
    if kind == "object":
        props = node.get("properties", {})
        required = node.get("required", [])
        if not isinstance(props, Mapping) or not isinstance(required, list):
            raise ConfigError("data_schema", f"{path}: properties/required malformed")
        unknown = set(required) - set(props)
        if unknown:
            raise ConfigError("data_schema", f"{path}: required names undeclared {sorted(unknown)}")
        if not props:
            raise ConfigError("data_schema", f"{path}: an object needs properties")
        fields = []
        for name, sub in props.items():
            if not _FIELD_RE.match(name):
                raise ConfigError(
                    "data_schema", f"{path}.{name}: field names must match [a-z_][a-z0-9_]*"
                )
            fields.append((name, _parse(sub, f"{path}.{name}", optional=name not in required)))
        return Field("object", optional, tuple(fields))
    if kind == "array":
        items = node.get("items")
        return Field("array", optional, items=_parse(items, f"{path}[]", optional=True))
    if kind == "string":
        fmt = node.get("format")
        if fmt is None:
            return Field("string", optional)
        if fmt == "date-time":
            return Field("timestamp", optional)
        raise ConfigError("data_schema", f"{path}: string format {fmt!r} is not date-time")
    if kind in ("integer", "number", "boolean"):
        return Field(kind, optional)
    raise ConfigError(
        "data_schema",
        f"{path}: type {kind!r} is not one of object, array, string, integer, number, boolean",
    )
