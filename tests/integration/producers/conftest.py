"""Helpers for the producer's integration tests: streams, reading back, fault injection."""

from __future__ import annotations

import base64
import itertools
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aws_kinesis_agg.deaggregator import iter_deaggregate_records

from shardflow.hashing import hash_key
from shardflow_tools.bootstrap import BootstrapReport, StreamSpec


@dataclass(frozen=True)
class UserRecord:
    """One event as a consumer sees it after de-aggregation."""

    shard_id: str
    sequence_number: int
    sub_sequence_number: int
    partition_key: str
    explicit_hash_key: str | None
    data: bytes


def wait_active(kinesis: Any, stream: str) -> None:
    kinesis.get_waiter("stream_exists").wait(
        StreamName=stream, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100}
    )


@pytest.fixture
def make_stream(
    aws_client: Callable[[str], Any],
    unique_name: Callable[[str], str],
    provision: Callable[..., BootstrapReport],
) -> Iterator[Callable[[int], str]]:
    """Factory: ``make_stream(shards)`` creates an active stream, deleted after the test."""
    kinesis = aws_client("kinesis")
    created: list[str] = []

    def make(shards: int) -> str:
        name = unique_name("producer")
        provision(StreamSpec(name, shard_count=shards))
        created.append(name)
        return name

    yield make
    for name in created:
        kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)


def read_stream(kinesis: Any, stream: str) -> list[UserRecord]:
    """Every user record in the stream: GetRecords on every shard from TRIM_HORIZON, then
    de-aggregation by ``aws_kinesis_agg`` (an implementation independent of ours)."""
    out: list[UserRecord] = []
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    for shard in shards:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for _ in range(10_000):  # bounded: an emulator's closed shard may never end
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            records = page["Records"]
            for user in iter_deaggregate_records(records, data_format="Boto3"):
                info = user["kinesis"]
                aggregated = info.get("aggregated", False)
                out.append(
                    UserRecord(
                        shard_id=shard["ShardId"],
                        sequence_number=int(info["sequenceNumber"]),
                        sub_sequence_number=info.get("subSequenceNumber", 0),
                        partition_key=info["partitionKey"],
                        explicit_hash_key=info.get("explicitHashKey"),
                        data=base64.b64decode(info["data"]) if aggregated else info["data"],
                    )
                )
            iterator = page.get("NextShardIterator")
            if not records or not iterator:
                break
    out.sort(key=lambda r: (r.shard_id, r.sequence_number, r.sub_sequence_number))
    return out


def kcl_view(kinesis: Any, stream: str, records: list[UserRecord]) -> list[UserRecord]:
    """The records a KCL worker hands to its processors: it discards de-aggregated records
    whose hash key lies outside the shard they were read from."""
    ranges = {
        s["ShardId"]: (
            int(s["HashKeyRange"]["StartingHashKey"]),
            int(s["HashKeyRange"]["EndingHashKey"]),
        )
        for s in kinesis.list_shards(StreamName=stream)["Shards"]
    }
    kept = []
    for rec in records:
        low, high = ranges[rec.shard_id]
        key = int(rec.explicit_hash_key) if rec.explicit_hash_key else hash_key(rec.partition_key)
        if low <= key <= high:
            kept.append(rec)
    return kept


THROTTLED = "ProvisionedThroughputExceededException"


class PutRecordsFaults:
    """Botocore event hooks that make chosen PutRecords entries fail as Kinesis would.

    The chosen entries are removed from the request before it is sent (so the emulator
    never writes them) and put back into the response as ``ErrorCode`` entries at their
    original positions, exactly like a partial failure of the real service.
    """

    def __init__(self, client: Any, choose: Callable[[int, int, dict[str, Any]], bool]) -> None:
        self._choose = choose
        self._calls = itertools.count()
        #: Per call: the partition keys sent, and the positions that were failed.
        self.calls: list[tuple[list[str], list[int]]] = []
        events = client.meta.events
        events.register("before-parameter-build.kinesis.PutRecords", self._before)
        events.register("after-call.kinesis.PutRecords", self._after)

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        call = next(self._calls)
        records = params["Records"]
        failed = [i for i, rec in enumerate(records) if self._choose(call, i, rec)]
        if len(failed) == len(records):
            failed = failed[1:]  # PutRecords needs at least one entry to send
        self.calls.append(([r["PartitionKey"] for r in records], failed))
        params["Records"] = [r for i, r in enumerate(records) if i not in failed]
        context["injected_failures"] = (failed, len(records))

    def _after(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        failed, total = context.pop("injected_failures", ([], 0))
        if not failed or "Records" not in parsed:
            return
        written = iter(parsed["Records"])
        parsed["Records"] = [
            {"ErrorCode": THROTTLED, "ErrorMessage": "Rate exceeded for shard (injected)"}
            if i in failed
            else next(written)
            for i in range(total)
        ]
        parsed["FailedRecordCount"] = parsed.get("FailedRecordCount", 0) + len(failed)


class ThrottleEverything:
    """Hooks answering every PutRecords entry with a throttling error, sending nothing
    (a ``before-call`` handler that returns a response short-circuits the HTTP call)."""

    def __init__(self, client: Any) -> None:
        self.calls = 0
        events = client.meta.events
        events.register("before-parameter-build.kinesis.PutRecords", self._count)
        events.register("before-call.kinesis.PutRecords", self._answer)

    def _count(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["entries"] = len(params["Records"])

    def _answer(self, context: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        self.calls += 1
        count = context["entries"]
        response = {
            "FailedRecordCount": count,
            "Records": [{"ErrorCode": THROTTLED, "ErrorMessage": "Rate exceeded (injected)"}]
            * count,
        }
        return _FakeHttp(), response


class _FakeHttp:
    status_code = 200
    headers: dict[str, str] = {}


def is_external_moto(endpoint: str, kinesis: Any, stream: str) -> bool:
    """True when the endpoint is a moto server in another process (which routes records
    into closed shards after a resharding, unlike Kinesis)."""
    try:
        from moto.backends import get_backend

        backend = get_backend("kinesis")["123456789012"][kinesis.meta.region_name]
        if stream in backend.streams:
            return False
    except Exception:  # moto absent, or laid out differently: not in this process
        pass
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
            return True
    except (urllib.error.URLError, OSError):
        return False
