"""The KPL aggregation wire format, written and read in one place.

An aggregated Kinesis record is::

    F3 89 9A C2 | protobuf AggregatedRecord | MD5(protobuf bytes)

with the message (from the KPL's ``messages.proto``)::

    message AggregatedRecord {
      repeated string partition_key_table     = 1;
      repeated string explicit_hash_key_table = 2;
      repeated Record records                 = 3;
    }
    message Record {
      required uint64 partition_key_index     = 1;
      optional uint64 explicit_hash_key_index = 2;
      required bytes  data                    = 3;
      repeated Tag    tags                    = 4;
    }

Any KPL-aware consumer (the KCL in every language, powertools' Kinesis data classes with
``aws_kinesis_agg``, Lambda deaggregation libraries) reads what :class:`AggregateBuilder`
writes. The protobuf is encoded and decoded by hand: the message is tiny and a generic
protobuf runtime would cost more than the whole encoding.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from shardflow.errors import WireFormatError

MAGIC: Final = b"\xf3\x89\x9a\xc2"
DIGEST_SIZE: Final = 16
#: Bytes an aggregate adds around its protobuf body.
OVERHEAD: Final = len(MAGIC) + DIGEST_SIZE

# Field tags, (field_number << 3) | wire_type.
_TAG_PK_TABLE: Final = b"\x0a"  # 1, length-delimited
_TAG_EHK_TABLE: Final = b"\x12"  # 2, length-delimited
_TAG_RECORD: Final = b"\x1a"  # 3, length-delimited
_TAG_PK_INDEX: Final = b"\x08"  # Record.1, varint
_TAG_EHK_INDEX: Final = b"\x10"  # Record.2, varint
_TAG_DATA: Final = b"\x1a"  # Record.3, length-delimited

_WIRE_VARINT: Final = 0
_WIRE_FIXED64: Final = 1
_WIRE_LEN: Final = 2
_WIRE_FIXED32: Final = 5

# Varints below 2**14 cover every length and index below the 1 MiB record limit in one or
# two bytes; a table avoids re-encoding them for every record.
_SMALL_VARINT_LIMIT: Final = 1 << 14


def _encode_varint_slow(value: int) -> bytes:
    if value < 0:
        raise ValueError(f"varint must be >= 0, got {value}")
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


_VARINTS: Final[tuple[bytes, ...]] = tuple(
    _encode_varint_slow(i) for i in range(_SMALL_VARINT_LIMIT)
)


def encode_varint(value: int) -> bytes:
    """The protobuf base-128 varint encoding of a non-negative integer."""
    if 0 <= value < _SMALL_VARINT_LIMIT:
        return _VARINTS[value]
    return _encode_varint_slow(value)


def varint_size(value: int) -> int:
    """How many bytes :func:`encode_varint` uses for ``value``."""
    if value < 0x80:
        return 1
    if value < _SMALL_VARINT_LIMIT:
        return 2
    return (value.bit_length() + 6) // 7


def is_aggregated(data: bytes) -> bool:
    """True when ``data`` starts with the KPL magic and is long enough to carry a digest.

    A record that passes this test but fails :func:`deaggregate` is corrupt, not plain.
    """
    return len(data) >= OVERHEAD and data[:4] == MAGIC


@dataclass(frozen=True, slots=True)
class UserRecord:
    """One user record inside an aggregate, with its index (the KCL's sub-sequence number)."""

    partition_key: str
    data: bytes
    sub_sequence_number: int
    explicit_hash_key: str | None = None


# A record is written as two parts: its header, ``TAG_RECORD varint(inner_len)
# TAG_PK_INDEX varint(pk_index) TAG_DATA varint(data_len)``, and the data itself, so adding
# a record never copies the data before build() joins everything once. The header depends
# only on (pk_index, data_len): it is built once per pair and cached (_HEADERS, keyed by
# ``pk_index << 14 | data_len``; both are below 2**14 on the fast path).
_RECORD_HEADS: Final = tuple(_TAG_RECORD + v for v in _VARINTS)
_PK_INDEX_PARTS: Final = tuple(_TAG_PK_INDEX + v for v in _VARINTS)
_DATA_HEADS: Final = tuple(_TAG_DATA + v for v in _VARINTS)
_NO_LIMIT: Final = 1 << 62
# Bounded caches (a few MiB at most). _HEADERS keeps what it holds once full: the low key
# indexes, which every aggregate uses, come first. _KEY_ENTRIES is cleared when full (the
# hot partition keys come back at once).
_CACHE_LIMIT: Final = 1 << 16
_HEADERS: dict[int, bytes] = {}
# Partition key -> its whole key table entry (TAG varint(len) utf8), for keys that repeat
# across aggregates.
_KEY_ENTRIES: dict[str, bytes] = {}


def _record_header(pk_idx: int, data_len: int) -> bytes:
    pk_part = _PK_INDEX_PARTS[pk_idx]
    data_head = _DATA_HEADS[data_len]
    header = _RECORD_HEADS[len(pk_part) + len(data_head) + data_len] + pk_part + data_head
    if len(_HEADERS) < _CACHE_LIMIT:
        _HEADERS[pk_idx << 14 | data_len] = header
    return header


def _key_entry(partition_key: str) -> bytes:
    raw = partition_key.encode()
    entry = _TAG_PK_TABLE + encode_varint(len(raw)) + raw
    if len(_KEY_ENTRIES) >= _CACHE_LIMIT:
        _KEY_ENTRIES.clear()
    _KEY_ENTRIES[partition_key] = entry
    return entry


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


class AggregateBuilder:
    """Accumulates user records into one KPL aggregate.

    Sizes are tracked exactly and in O(1), so a caller can ask :meth:`size_if_added` (or
    let :meth:`try_add` ask) before adding and keep every aggregate under the Kinesis record
    limit (data plus the aggregate's own partition key). The builder does not choose limits
    itself: that is batching policy, passed in by the caller.

    Not thread-safe: one builder belongs to one thread (or one lock) at a time.
    """

    __slots__ = (
        "_body_size",
        "_count",
        "_ehk_index",
        "_first_ehk",
        "_parts",
        "_pk_index",
        "_pk_table",
        "_tables_size",
    )

    def __init__(self) -> None:
        self._pk_index: dict[str, int] = {}
        self._ehk_index: dict[str, int] = {}
        # Each record is two parts, its protobuf header and its data, so the data is never
        # copied before build() joins everything once. The key tables are written first
        # (protobuf allows any order; every KPL writes the tables first).
        self._parts: list[bytes] = []
        # The partition key table, written as keys are first seen (build() only joins).
        self._pk_table: list[bytes] = []
        self._count = 0
        self._body_size = 0
        self._tables_size = 0
        self._first_ehk: str | None = None

    def __len__(self) -> int:
        return self._count

    @property
    def size(self) -> int:
        """Bytes of the aggregate :meth:`build` would return now (magic and digest included)."""
        return self._body_size + self._tables_size + OVERHEAD

    @property
    def partition_key(self) -> str | None:
        """The first user record's partition key: the aggregate's own key, as in the KPL."""
        return next(iter(self._pk_index), None)  # dicts keep insertion order

    @property
    def explicit_hash_key(self) -> str | None:
        """The first user record's explicit hash key, if it had one."""
        return self._first_ehk

    def first_data(self) -> bytes:
        """The first user record's data (what to send plain when it is the only record)."""
        if not self._count:
            raise ValueError("the aggregate is empty")
        return self._parts[1]

    @staticmethod
    def _record_size(data_len: int, pk_idx: int, ehk_idx: int | None) -> int:
        inner = 1 + varint_size(pk_idx) + 1 + varint_size(data_len) + data_len
        if ehk_idx is not None:
            inner += 1 + varint_size(ehk_idx)
        return 1 + varint_size(inner) + inner

    def size_if_added(
        self, partition_key: str, data_len: int, explicit_hash_key: str | None = None
    ) -> int:
        """The aggregate's size if a record of ``data_len`` bytes with these keys were added."""
        size = self.size
        pk_idx = self._pk_index.get(partition_key)
        if pk_idx is None:
            pk_idx = len(self._pk_index)
            n = _utf8_len(partition_key)
            size += 1 + varint_size(n) + n
        ehk_idx: int | None = None
        if explicit_hash_key is not None:
            ehk_idx = self._ehk_index.get(explicit_hash_key)
            if ehk_idx is None:
                ehk_idx = len(self._ehk_index)
                n = _utf8_len(explicit_hash_key)
                size += 1 + varint_size(n) + n
        return size + self._record_size(data_len, pk_idx, ehk_idx)

    def add(self, partition_key: str, data: bytes, explicit_hash_key: str | None = None) -> int:
        """Append a user record; return its sub-sequence number (index in the aggregate)."""
        return self.try_add(partition_key, data, explicit_hash_key, _NO_LIMIT)

    def try_add(
        self,
        partition_key: str,
        data: bytes,
        explicit_hash_key: str | None,
        max_size: int,
    ) -> int:
        """Add a user record if the aggregate stays within ``max_size`` bytes.

        Returns the record's sub-sequence number (its index in the aggregate), or -1 when it
        would not fit, in which case nothing is added.
        """
        # Hot path: the producer calls this once per event. A record without explicit hash
        # key, with a small key index and data length, costs two dict lookups (its key's
        # index, its cached header) and one list extend; a key new to this aggregate adds
        # one cached key-table entry.
        pk_idx = self._pk_index.get(partition_key)
        if pk_idx is None:
            pk_idx = len(self._pk_index)
            key_entry = _KEY_ENTRIES.get(partition_key) or _key_entry(partition_key)
            tables = self._tables_size + len(key_entry)
        else:
            key_entry = None
            tables = self._tables_size
        data_len = len(data)
        if (
            explicit_hash_key is not None
            or pk_idx >= _SMALL_VARINT_LIMIT
            or data_len >= _SMALL_VARINT_LIMIT - 8
        ):
            return self._try_add_general(
                partition_key, data, explicit_hash_key, max_size, pk_idx=pk_idx, tables=tables
            )
        header = _HEADERS.get(pk_idx << 14 | data_len) or _record_header(pk_idx, data_len)
        body = self._body_size + len(header) + data_len
        if body + tables + OVERHEAD > max_size:
            return -1
        self._parts += (header, data)
        if key_entry is not None:
            self._pk_index[partition_key] = pk_idx
            self._pk_table.append(key_entry)
        self._body_size = body
        self._tables_size = tables
        count = self._count
        self._count = count + 1
        return count

    def _try_add_general(
        self,
        partition_key: str,
        data: bytes,
        explicit_hash_key: str | None,
        max_size: int,
        *,
        pk_idx: int,
        tables: int,
    ) -> int:
        # Explicit hash keys, large indexes or large records: same layout, built piecewise.
        head = [_TAG_PK_INDEX, encode_varint(pk_idx)]
        ehk_idx: int | None = None
        if explicit_hash_key is not None:
            ehk_idx = self._ehk_index.get(explicit_hash_key)
            if ehk_idx is None:
                ehk_idx = len(self._ehk_index)
                n = _utf8_len(explicit_hash_key)
                tables += 1 + varint_size(n) + n
            head += (_TAG_EHK_INDEX, encode_varint(ehk_idx))
        pk_part = b"".join(head)
        data_len = len(data)
        data_head = _TAG_DATA + encode_varint(data_len)
        inner_len = len(pk_part) + len(data_head) + data_len
        header = _TAG_RECORD + encode_varint(inner_len) + pk_part + data_head
        body = self._body_size + len(header) + data_len
        if body + tables + OVERHEAD > max_size:
            return -1
        self._parts += (header, data)
        if partition_key not in self._pk_index:
            self._pk_index[partition_key] = pk_idx
            self._pk_table.append(_KEY_ENTRIES.get(partition_key) or _key_entry(partition_key))
        if explicit_hash_key is not None and explicit_hash_key not in self._ehk_index:
            self._ehk_index[explicit_hash_key] = len(self._ehk_index)
        if not self._count:
            self._first_ehk = explicit_hash_key
        self._body_size = body
        self._tables_size = tables
        self._count += 1
        return self._count - 1

    def build(self) -> bytes:
        """The aggregate's bytes: magic, protobuf body, MD5 digest of the body."""
        if not self._count:
            raise ValueError("cannot build an empty aggregate")
        head = list(self._pk_table)
        for key in self._ehk_index:  # dicts keep insertion order == index order
            raw = key.encode()
            head += (_TAG_EHK_TABLE, encode_varint(len(raw)), raw)
        head += self._parts
        body = b"".join(head)
        return b"".join((MAGIC, body, hashlib.md5(body, usedforsecurity=False).digest()))


def aggregate(
    records: list[tuple[str, bytes]] | list[tuple[str, bytes, str | None]],
) -> bytes:
    """Aggregate ``(partition_key, data[, explicit_hash_key])`` tuples into one KPL record."""
    builder = AggregateBuilder()
    for rec in records:
        builder.add(*rec)
    return builder.build()


def _read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise WireFormatError("truncated varint in KPL aggregate")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireFormatError("varint longer than 64 bits in KPL aggregate")


def _skip(buf: bytes, pos: int, end: int, wire_type: int) -> int:
    if wire_type == _WIRE_VARINT:
        return _read_varint(buf, pos, end)[1]
    if wire_type == _WIRE_FIXED64:
        pos += 8
    elif wire_type == _WIRE_FIXED32:
        pos += 4
    elif wire_type == _WIRE_LEN:
        n, pos = _read_varint(buf, pos, end)
        pos += n
    else:
        raise WireFormatError(f"unsupported protobuf wire type {wire_type} in KPL aggregate")
    if pos > end:
        raise WireFormatError("truncated field in KPL aggregate")
    return pos


def _parse_record(buf: bytes, pos: int, end: int) -> tuple[int, int | None, bytes]:
    # Fast path for the layout every KPL writes for a record without explicit hash key or
    # tags: 08 <partition key index, 1 byte> 1A <data length, 1 or 2 bytes> <data>, filling
    # the record exactly. Anything else takes the general parser below.
    if end - pos >= 4 and buf[pos] == 0x08 and buf[pos + 1] < 0x80 and buf[pos + 2] == 0x1A:
        b = buf[pos + 3]
        if b < 0x80:
            if pos + 4 + b == end:
                return buf[pos + 1], None, buf[pos + 4 : end]
        elif end - pos >= 5 and buf[pos + 4] < 0x80:
            n = (b & 0x7F) | (buf[pos + 4] << 7)
            if pos + 5 + n == end:
                return buf[pos + 1], None, buf[pos + 5 : end]
    pk_idx: int | None = None
    ehk_idx: int | None = None
    data: bytes | None = None
    while pos < end:
        tag, pos = _read_varint(buf, pos, end)
        field, wire = tag >> 3, tag & 7
        if field == 1 and wire == _WIRE_VARINT:
            pk_idx, pos = _read_varint(buf, pos, end)
        elif field == 2 and wire == _WIRE_VARINT:
            ehk_idx, pos = _read_varint(buf, pos, end)
        elif field == 3 and wire == _WIRE_LEN:
            n, pos = _read_varint(buf, pos, end)
            if pos + n > end:
                raise WireFormatError("truncated record data in KPL aggregate")
            data = buf[pos : pos + n]
            pos += n
        else:  # tags (field 4) and unknown fields are skipped, as protobuf readers do
            pos = _skip(buf, pos, end, wire)
    if pk_idx is None or data is None:
        raise WireFormatError("KPL record lacks its partition key index or data")
    return pk_idx, ehk_idx, data


def _decode_str(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        raise WireFormatError("KPL key table entry is not UTF-8") from exc


def _scan(buf: bytes, end: int) -> tuple[list[str], list[str], list[tuple[int, int | None, bytes]]]:
    """The key tables and raw records of an aggregate body (``buf[4:end]``)."""
    pos = 4
    pks: list[str] = []
    ehks: list[str] = []
    raw_records: list[tuple[int, int | None, bytes]] = []
    while pos < end:
        tag = buf[pos]
        if tag < 0x80:  # one-byte tag and length: the common case, read inline
            pos += 1
        else:
            tag, pos = _read_varint(buf, pos, end)
        field, wire = tag >> 3, tag & 7
        if wire != _WIRE_LEN:
            pos = _skip(buf, pos, end, wire)
            continue
        if pos + 1 < end and buf[pos] < 0x80:
            n = buf[pos]
            pos += 1
        elif pos + 1 < end and buf[pos + 1] < 0x80:
            n = (buf[pos] & 0x7F) | (buf[pos + 1] << 7)
            pos += 2
        else:
            n, pos = _read_varint(buf, pos, end)
        stop = pos + n
        if stop > end:
            raise WireFormatError("truncated field in KPL aggregate")
        if field == 3:
            raw_records.append(_parse_record(buf, pos, stop))
        elif field == 1:
            pks.append(_decode_str(buf[pos:stop]))
        elif field == 2:
            ehks.append(_decode_str(buf[pos:stop]))
        pos = stop
    return pks, ehks, raw_records


def deaggregate(data: bytes) -> list[UserRecord]:
    """The user records of a KPL aggregate, in order.

    Raises :class:`~shardflow.errors.WireFormatError` when ``data`` is not an aggregate or
    is corrupt (digest mismatch, truncated protobuf, index out of range). Callers decide
    what a corrupt aggregate means; the consumers dead-letter it with its payload.
    """
    if not is_aggregated(data):
        raise WireFormatError("not a KPL aggregate (magic bytes missing or record too short)")
    end = len(data) - DIGEST_SIZE
    body = data[4:end]
    if hashlib.md5(body, usedforsecurity=False).digest() != data[end:]:
        raise WireFormatError("KPL aggregate digest mismatch (corrupt or truncated record)")
    pks, ehks, raw_records = _scan(data, end)
    out: list[UserRecord] = []
    for sub, (pk_idx, ehk_idx, payload) in enumerate(raw_records):
        if pk_idx >= len(pks):
            raise WireFormatError(
                f"KPL record {sub} names partition key {pk_idx}, table has {len(pks)}"
            )
        ehk: str | None = None
        if ehk_idx is not None:
            if ehk_idx >= len(ehks):
                raise WireFormatError(
                    f"KPL record {sub} names explicit hash key {ehk_idx}, table has {len(ehks)}"
                )
            ehk = ehks[ehk_idx]
        out.append(UserRecord(pks[pk_idx], payload, sub, ehk))
    return out
