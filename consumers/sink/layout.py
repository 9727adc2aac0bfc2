"""Where the sink's objects go: pure functions of the flush, no I/O.

Data objects::

    PREFIX/dt=YYYY-MM-DD/hr=HH[/KEY=VALUE...]/STREAM_SHARD_FIRST_LAST.parquet   (or .json.gz)

where FIRST and LAST are the positions (``SEQ`` or ``SEQ.SUB``) of the first and last record
the flush covers. A flush covers a contiguous range of its shard and writes one object per
partition its events fall in, all with the same file name; rewriting the same range gives the
same keys, so a replay overwrites instead of duplicating.

Manifests (one per flush, written last; Athena never reads ``_``-prefixed paths)::

    PREFIX/_manifests/STREAM/SHARD/LLL-LASTSEQ-{n|sNNNNNNNNNN}.json

keyed by the flush's *last* position: LLL is the sequence number's digit count (so that
S3's lexicographic order is numeric order for any length), ``n`` marks a plain record and
``sNNNNNNNNNN`` a zero-padded sub-sequence number (``n`` sorts first, like
:class:`~consumers.Position`). Listing is therefore stream order: one
``ListObjectsV2(StartAfter=...)`` finds every flush whose range ends at or after a position,
including one that began before it (a Lambda batch retried after a bisect starts inside an
earlier flush).

The commit protocol (:mod:`consumers.sink.writer`) keeps, beside each shard's manifests::

    PREFIX/_manifests/STREAM/SHARD.head.json                          the shard's head
    PREFIX/_manifests/STREAM/SHARD.staging/WRITER/PARTITIONS/NAME     objects before commit

both hidden from Athena and outside the listing of the shard's manifests. A staged object's
key names the writer that staged it, so two writers of one range never share one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from consumers.records import Position

MANIFESTS_DIR: Final = "_manifests"
_SUB_WIDTH: Final = 10


def partition_path(partition: Sequence[tuple[str, str]]) -> str:
    """``dt=2026-11-26/hr=14`` for ``[("dt", "2026-11-26"), ("hr", "14")]``."""
    return "/".join(f"{name}={value}" for name, value in partition)


def object_name(stream: str, shard_id: str, first: Position, last: Position, extension: str) -> str:
    """The file name every object of a flush shares."""
    return f"{stream}_{shard_id}_{first}_{last}.{extension}"


def object_key(
    prefix: str,
    *,
    partition: Sequence[tuple[str, str]],
    stream: str,
    shard_id: str,
    first: Position,
    last: Position,
    extension: str,
) -> str:
    """The key of a flush's object in one partition."""
    return (
        f"{prefix}/{partition_path(partition)}/"
        f"{object_name(stream, shard_id, first, last, extension)}"
    )


def manifest_prefix(prefix: str, stream: str, shard_id: str) -> str:
    """The folder of a shard's manifests (ends with ``/``)."""
    return f"{prefix}/{MANIFESTS_DIR}/{stream}/{shard_id}/"


def _sortable(position: Position) -> str:
    # Kinesis sequence numbers are canonical decimals of at most 129 digits (API pattern
    # 0|([1-9]\d{0,128})): length first, then digits, orders them numerically.
    seq = position.sequence_number.lstrip("0") or "0"
    sub = position.sub_sequence_number
    tail = "n" if sub is None else f"s{sub:0{_SUB_WIDTH}d}"
    return f"{len(seq):03d}-{seq}-{tail}"


def manifest_key(prefix: str, stream: str, shard_id: str, last: Position) -> str:
    """The key of the manifest of the flush that ends at ``last``."""
    return f"{manifest_prefix(prefix, stream, shard_id)}{_sortable(last)}.json"


def manifests_start_after(prefix: str, stream: str, shard_id: str, position: Position) -> str:
    """``StartAfter`` for listing the manifests of flushes that end at or after
    ``position`` (every key greater than this string)."""
    return f"{manifest_prefix(prefix, stream, shard_id)}{_sortable(position)}"


def head_key(prefix: str, stream: str, shard_id: str) -> str:
    """The key of the shard's head (the object the commit protocol updates)."""
    return f"{prefix}/{MANIFESTS_DIR}/{stream}/{shard_id}.head.json"


def staging_prefix(prefix: str, stream: str, shard_id: str) -> str:
    """The folder of the shard's staged objects (ends with ``/``)."""
    return f"{prefix}/{MANIFESTS_DIR}/{stream}/{shard_id}.staging/"


def staging_key(prefix: str, stream: str, shard_id: str, writer: str, object_key: str) -> str:
    """Where ``writer`` stages the object that becomes ``object_key`` once committed."""
    return f"{staging_prefix(prefix, stream, shard_id)}{writer}/{object_key[len(prefix) + 1 :]}"
