"""Where the sink's objects go: pure functions of the flush, no I/O.

Data objects::

    PREFIX/dt=YYYY-MM-DD/hr=HH[/KEY=VALUE...]/STREAM_SHARD_FIRST_LAST.parquet   (or .json.gz)

where FIRST and LAST are the positions (``SEQ`` or ``SEQ.SUB``) of the first and last record
the flush covers. A flush covers a contiguous range of its shard and writes one object per
partition its events fall in, all with the same file name; rewriting the same range gives the
same keys, so a replay overwrites instead of duplicating.

Manifests (one per flush, written last; Athena never reads ``_``-prefixed paths)::

    PREFIX/_manifests/STREAM/SHARD/LASTSEQ-LASTSUB.json

keyed by the flush's *last* position, zero-padded so that S3's lexicographic listing is
stream order: one ``ListObjectsV2(StartAfter=...)`` finds every flush whose range ends at or
after a position, including one that began before it (a Lambda batch retried after a
bisect starts inside an earlier flush).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from consumers.records import Position

MANIFESTS_DIR: Final = "_manifests"
#: Kinesis sequence numbers are decimal strings of at most 129 digits (API pattern
#: ``0|([1-9]\d{0,128})``); manifest names pad to that width so they sort numerically.
_SEQ_WIDTH: Final = 129
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
    # None (a plain record) sorts before sub-sequence 0, as in Position's ordering.
    sub = 0 if position.sub_sequence_number is None else position.sub_sequence_number + 1
    return f"{position.sequence_number:0>{_SEQ_WIDTH}}-{sub:0{_SUB_WIDTH}d}"


def manifest_key(prefix: str, stream: str, shard_id: str, last: Position) -> str:
    """The key of the manifest of the flush that ends at ``last``."""
    return f"{manifest_prefix(prefix, stream, shard_id)}{_sortable(last)}.json"


def manifests_start_after(prefix: str, stream: str, shard_id: str, position: Position) -> str:
    """``StartAfter`` for listing the manifests of flushes that end at or after
    ``position`` (every key greater than this string)."""
    return f"{manifest_prefix(prefix, stream, shard_id)}{_sortable(position)}"
