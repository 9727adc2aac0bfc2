"""What the sink stores about its flushes: manifests and each shard's head.

One :class:`Manifest` per flush, stored as JSON (``"schema": "shardflow.manifest/1"``) under
``PREFIX/_manifests/`` (see :mod:`consumers.sink.layout`); one :class:`ShardHead` per shard
(``"schema": "shardflow.head/1"``), the object the commit protocol of
:mod:`consumers.sink.writer` updates conditionally. Written and read only here.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

import orjson

from consumers.records import Position

MANIFEST_SCHEMA: Final = "shardflow.manifest/1"
HEAD_SCHEMA: Final = "shardflow.head/1"
ManifestStatus = Literal["pending", "committed"]


@dataclass(frozen=True, slots=True)
class WrittenObject:
    """One object of a flush: its key, partition values, row count and size."""

    key: str
    partition: tuple[tuple[str, str], ...]
    records: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a flush of one shard holds: the range ``[first, last]``, the events written and
    the positions dead-lettered in it, and its objects.

    ``staged`` are the hidden keys the objects were written to before the flush committed
    (one per object, same order; empty in manifests of older versions). ``status`` is
    ``committed``; ``pending`` only in manifests an older version wrote before its objects.
    """

    stream: str
    shard_id: str
    first: Position
    last: Position
    format: str
    records: int
    skipped: int
    bytes: int
    first_arrival_time: str
    last_arrival_time: str
    objects: tuple[WrittenObject, ...]
    status: ManifestStatus = "committed"
    staged: tuple[str, ...] = ()

    def with_status(self, status: ManifestStatus) -> Manifest:
        """The same manifest with another status."""
        return replace(self, status=status)

    def to_json(self) -> builtins.bytes:
        """The stored form."""
        return orjson.dumps(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """The stored form, as a JSON-ready dict."""
        doc: dict[str, Any] = {
            "schema": MANIFEST_SCHEMA,
            "status": self.status,
            "stream": self.stream,
            "shard_id": self.shard_id,
            "first": str(self.first),
            "last": str(self.last),
            "format": self.format,
            "records": self.records,
            "skipped": self.skipped,
            "bytes": self.bytes,
            "first_arrival_time": self.first_arrival_time,
            "last_arrival_time": self.last_arrival_time,
            "objects": [
                {
                    "key": o.key,
                    "partition": dict(o.partition),
                    "records": o.records,
                    "bytes": o.bytes,
                }
                for o in self.objects
            ],
        }
        if self.staged:
            doc["staged"] = list(self.staged)
        return doc

    @classmethod
    def from_json(cls, body: builtins.bytes) -> Manifest:
        """Read a stored manifest; ValueError when it is not one."""
        try:
            doc: dict[str, Any] = orjson.loads(body)
            return cls.from_dict(doc)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a {MANIFEST_SCHEMA} document: {exc!r}") from exc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Manifest:
        """The manifest of a decoded JSON document (KeyError/TypeError/ValueError if not)."""
        status = doc["status"]
        if status not in ("pending", "committed"):
            raise ValueError(f"unknown manifest status {status!r}")
        return cls(
            stream=doc["stream"],
            shard_id=doc["shard_id"],
            first=Position.parse(doc["first"]),
            last=Position.parse(doc["last"]),
            format=doc["format"],
            records=int(doc["records"]),
            skipped=int(doc["skipped"]),
            bytes=int(doc["bytes"]),
            first_arrival_time=doc["first_arrival_time"],
            last_arrival_time=doc["last_arrival_time"],
            objects=tuple(
                WrittenObject(
                    o["key"],
                    tuple((str(k), str(v)) for k, v in o["partition"].items()),
                    int(o["records"]),
                    int(o["bytes"]),
                )
                for o in doc["objects"]
            ),
            status=status,
            staged=tuple(str(k) for k in doc.get("staged", ())),
        )


@dataclass(frozen=True, slots=True)
class ShardHead:
    """The tip of one shard's commit log: which writer owns the shard (``generation``
    counts takeovers, ``writer`` is the owner's random id) and the latest committed flush
    (``pending`` until every writer may assume it rolled forward; None before the first)."""

    stream: str
    shard_id: str
    generation: int
    writer: str
    pending: Manifest | None = None

    def to_json(self) -> builtins.bytes:
        """The stored form."""
        return orjson.dumps(
            {
                "schema": HEAD_SCHEMA,
                "stream": self.stream,
                "shard_id": self.shard_id,
                "generation": self.generation,
                "writer": self.writer,
                "pending": None if self.pending is None else self.pending.to_dict(),
            }
        )

    @classmethod
    def from_json(cls, body: builtins.bytes) -> ShardHead:
        """Read a stored head; ValueError when it is not one."""
        try:
            doc: dict[str, Any] = orjson.loads(body)
            if doc["schema"] != HEAD_SCHEMA:
                raise ValueError(f"schema {doc['schema']!r}")
            pending = doc["pending"]
            return cls(
                stream=doc["stream"],
                shard_id=doc["shard_id"],
                generation=int(doc["generation"]),
                writer=str(doc["writer"]),
                pending=None if pending is None else Manifest.from_dict(pending),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a {HEAD_SCHEMA} document: {exc!r}") from exc
