"""An in-memory stand-in for the Kinesis client, for tests and benchmarks.

:class:`InMemoryKinesis` answers the two calls the producer makes (ListShards and
PutRecords) the way Kinesis does: records are routed by MD5 of the partition key (or the
explicit hash key) to the open shard owning it, sequence numbers increase per shard, and
:meth:`InMemoryKinesis.split_shard` reshards. Failures can be injected per entry or per
call, so application tests can check what their code does with a throttled or missing
stream without an emulator::

    kinesis = InMemoryKinesis()
    kinesis.create_stream("events", shard_count=2)
    kinesis.fail_entry = lambda call, index, entry: (
        "ProvisionedThroughputExceededException" if call == 0 else None
    )
    with EventProducer("events", client=kinesis) as producer:
        ...
    kinesis.user_records("events")   # what landed, de-aggregated, per shard

With ``store=False`` nothing is kept: a PutRecords call costs next to nothing, which is
what the producer's CPU benchmark uses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from shardflow import kpl
from shardflow.hashing import MAX_HASH_KEY, hash_key

__all__ = ["InMemoryKinesis", "StoredRecord"]


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One Kinesis record as the fake stored it."""

    shard_id: str
    sequence_number: str
    partition_key: str
    explicit_hash_key: str | None
    data: bytes


@dataclass(slots=True)
class _Shard:
    shard_id: str
    start: int
    end: int
    parent: str | None = None
    open: bool = True
    next_seq: int = 0
    records: list[StoredRecord] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        seq_range: dict[str, str] = {"StartingSequenceNumber": "0"}
        if not self.open:
            seq_range["EndingSequenceNumber"] = str(max(self.next_seq - 1, 0))
        out: dict[str, Any] = {
            "ShardId": self.shard_id,
            "HashKeyRange": {"StartingHashKey": str(self.start), "EndingHashKey": str(self.end)},
            "SequenceNumberRange": seq_range,
        }
        if self.parent:
            out["ParentShardId"] = self.parent
        return out


def _client_error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class InMemoryKinesis:
    """A thread-safe fake of the boto3 Kinesis client's ListShards and PutRecords."""

    def __init__(self, *, store: bool = True) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._streams: dict[str, list[_Shard]] = {}
        self._calls = 0
        #: ``fail_entry(call_index, entry_index, entry) -> error code | None``: an entry for
        #: which it returns a code is answered with that error and not stored.
        self.fail_entry: Callable[[int, int, Mapping[str, Any]], str | None] | None = None
        #: ``fail_call(call_index, records) -> error code | None``: the whole call raises a
        #: ``ClientError`` with that code.
        self.fail_call: Callable[[int, list[Mapping[str, Any]]], str | None] | None = None
        #: Number of entries of each PutRecords call, in order.
        self.call_sizes: list[int] = []

    def create_stream(self, name: str, shard_count: int = 1) -> None:
        """A stream with ``shard_count`` shards splitting the hash range evenly."""
        step = (MAX_HASH_KEY + 1) // shard_count
        shards = [
            _Shard(
                f"shardId-{i:012d}",
                i * step,
                MAX_HASH_KEY if i == shard_count - 1 else (i + 1) * step - 1,
            )
            for i in range(shard_count)
        ]
        with self._lock:
            self._streams[name] = shards

    def _stream(self, kwargs: Mapping[str, Any], operation: str) -> list[_Shard]:
        name = kwargs.get("StreamName") or str(kwargs.get("StreamARN", "")).rsplit("/", 1)[-1]
        shards = self._streams.get(name)
        if shards is None:
            raise _client_error(
                "ResourceNotFoundException", f"Stream {name} under account not found.", operation
            )
        return shards

    def list_shards(self, **kwargs: Any) -> dict[str, Any]:
        """ListShards (one page with every shard, open and closed)."""
        with self._lock:
            return {"Shards": [s.describe() for s in self._stream(kwargs, "ListShards")]}

    def put_records(self, *, Records: list[Mapping[str, Any]], **kwargs: Any) -> dict[str, Any]:  # noqa: N803 - boto3's parameter name
        """PutRecords: route every entry to its open shard, or fail it as injected."""
        with self._lock:
            shards = self._stream(kwargs, "PutRecords")
            call = self._calls
            self._calls += 1
            self.call_sizes.append(len(Records))
            if self.fail_call is not None:
                code = self.fail_call(call, list(Records))
                if code:
                    raise _client_error(code, "injected failure", "PutRecords")
            results: list[dict[str, Any]] = []
            failed = 0
            for i, entry in enumerate(Records):
                code = self.fail_entry(call, i, entry) if self.fail_entry is not None else None
                if code:
                    failed += 1
                    results.append({"ErrorCode": code, "ErrorMessage": "injected failure"})
                    continue
                ehk = entry.get("ExplicitHashKey")
                key = int(ehk) if ehk is not None else hash_key(entry["PartitionKey"])
                shard = next(s for s in shards if s.open and s.start <= key <= s.end)
                seq = f"{shard.next_seq:056d}"
                shard.next_seq += 1
                if self._store:
                    shard.records.append(
                        StoredRecord(
                            shard.shard_id, seq, entry["PartitionKey"], ehk, bytes(entry["Data"])
                        )
                    )
                results.append({"ShardId": shard.shard_id, "SequenceNumber": seq})
            return {"FailedRecordCount": failed, "Records": results}

    def split_shard(self, stream: str, shard_id: str, new_starting_hash_key: int) -> None:
        """Close ``shard_id`` and open two children split at ``new_starting_hash_key``."""
        with self._lock:
            shards = self._streams[stream]
            parent = next(s for s in shards if s.shard_id == shard_id and s.open)
            if not parent.start < new_starting_hash_key <= parent.end:
                raise ValueError("new starting hash key is outside the shard")
            parent.open = False
            base = len(shards)
            shards.append(
                _Shard(f"shardId-{base:012d}", parent.start, new_starting_hash_key - 1, shard_id)
            )
            shards.append(
                _Shard(f"shardId-{base + 1:012d}", new_starting_hash_key, parent.end, shard_id)
            )

    def records(self, stream: str) -> list[StoredRecord]:
        """Every stored Kinesis record, shard by shard, in sequence order."""
        with self._lock:
            return [r for s in self._streams[stream] for r in s.records]

    def user_records(self, stream: str) -> list[tuple[str, str, bytes]]:
        """``(shard_id, partition_key, data)`` of every event stored, de-aggregated."""
        out: list[tuple[str, str, bytes]] = []
        for rec in self.records(stream):
            if kpl.is_aggregated(rec.data):
                out.extend(
                    (rec.shard_id, user.partition_key, user.data)
                    for user in kpl.deaggregate(rec.data)
                )
            else:
                out.append((rec.shard_id, rec.partition_key, rec.data))
        return out
