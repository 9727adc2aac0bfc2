"""The HTTP/2 emulator with ``--aws-resharding`` answers split and merge as AWS does.

boto3 against ``Http2EmulatorProcess(aws_resharding=True)`` (the shim is installed in that
child process only). Plain moto gets each of these wrong; see
:mod:`shardflow_tools.emulator_resharding`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from shardflow_tools.bootstrap import BootstrapSpec, StreamSpec, bootstrap
from shardflow_tools.emulator_h2 import Http2EmulatorProcess

MAX_HASH_KEY = (1 << 128) - 1
MIDDLE = 1 << 127


@pytest.fixture(scope="module")
def kinesis() -> Iterator[Any]:
    with Http2EmulatorProcess(aws_resharding=True) as emu:
        yield boto3.client(
            "kinesis",
            endpoint_url=emu.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )


@pytest.fixture
def stream(kinesis: Any, unique_name: Callable[[str], str]) -> str:
    name = unique_name("stream")
    bootstrap(
        BootstrapSpec(key=None, streams=(StreamSpec(name, shard_count=1),)),
        clients={"kinesis": kinesis},
    )
    return name


def _put(kinesis: Any, stream: str, hash_key: int, data: bytes) -> tuple[str, str]:
    resp = kinesis.put_record(
        StreamName=stream, Data=data, PartitionKey="k", ExplicitHashKey=str(hash_key)
    )
    return resp["ShardId"], resp["SequenceNumber"]


def _shards(kinesis: Any, stream: str) -> dict[str, dict[str, Any]]:
    return {s["ShardId"]: s for s in kinesis.list_shards(StreamName=stream)["Shards"]}


def _read_to_end(kinesis: Any, stream: str, shard_id: str, limit: int) -> list[dict[str, Any]]:
    """Every GetRecords answer from TRIM_HORIZON until one without NextShardIterator
    (bounded: an iterator that never ends fails the test)."""
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    answers = []
    for _ in range(20):
        answer = kinesis.get_records(ShardIterator=iterator, Limit=limit)
        answers.append(answer)
        iterator = answer.get("NextShardIterator")
        if iterator is None:
            return answers
    pytest.fail(f"{shard_id}: GetRecords never ended the iterator")


def _split(kinesis: Any, stream: str, parent: str, at: int) -> list[str]:
    kinesis.split_shard(StreamName=stream, ShardToSplit=parent, NewStartingHashKey=str(at))
    return sorted(
        s for s, d in _shards(kinesis, stream).items() if d.get("ParentShardId") == parent
    )


def test_split_parent_keeps_its_records_and_ends_with_child_shards(
    kinesis: Any, stream: str
) -> None:
    (parent,) = _shards(kinesis, stream)
    before = [_put(kinesis, stream, key, b"old-%d" % i) for i, key in enumerate((1, MIDDLE + 1, 5))]
    assert {shard for shard, _ in before} == {parent}
    low, high = _split(kinesis, stream, parent, MIDDLE)

    after = [_put(kinesis, stream, key, b"new") for key in (0, MIDDLE - 1, MIDDLE, MAX_HASH_KEY)]
    assert [shard for shard, _ in after] == [low, low, high, high], "new records go to the children"

    shards = _shards(kinesis, stream)
    ending = shards[parent]["SequenceNumberRange"]["EndingSequenceNumber"]
    assert ending == before[-1][1], "the parent ends at its last record"

    answers = _read_to_end(kinesis, stream, parent, limit=2)
    assert [r["Data"] for a in answers for r in a["Records"]] == [b"old-0", b"old-1", b"old-2"]
    assert all("ChildShards" not in a for a in answers[:-1]), "children only at the end"
    assert answers[-1]["MillisBehindLatest"] == 0
    assert answers[-1]["ChildShards"] == [
        {
            "ShardId": child,
            "ParentShards": [parent],
            "HashKeyRange": shards[child]["HashKeyRange"],
        }
        for child in (low, high)
    ]
    assert shards[low]["HashKeyRange"] == {
        "StartingHashKey": "0",
        "EndingHashKey": str(MIDDLE - 1),
    }


def test_an_iterator_already_at_a_closed_shards_end_ends_at_once(kinesis: Any, stream: str) -> None:
    (parent,) = _shards(kinesis, stream)
    _, last = _put(kinesis, stream, 1, b"only")
    children = _split(kinesis, stream, parent, MIDDLE)
    iterator = kinesis.get_shard_iterator(
        StreamName=stream,
        ShardId=parent,
        ShardIteratorType="AFTER_SEQUENCE_NUMBER",
        StartingSequenceNumber=last,
    )["ShardIterator"]
    answer = kinesis.get_records(ShardIterator=iterator)
    assert answer["Records"] == []
    assert "NextShardIterator" not in answer
    assert [c["ShardId"] for c in answer["ChildShards"]] == children


def test_open_shards_never_end(kinesis: Any, stream: str) -> None:
    (parent,) = _shards(kinesis, stream)
    children = _split(kinesis, stream, parent, MIDDLE)
    for shard in children:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        answer = kinesis.get_records(ShardIterator=iterator)
        assert answer["Records"] == []
        assert answer["NextShardIterator"], "an open shard's iterator goes on"
        assert "ChildShards" not in answer


def test_merge_parents_keep_their_records_and_end_with_the_merged_child(
    kinesis: Any, stream: str
) -> None:
    (root,) = _shards(kinesis, stream)
    low, high = _split(kinesis, stream, root, MIDDLE)
    _put(kinesis, stream, 1, b"low")
    _put(kinesis, stream, MAX_HASH_KEY, b"high")
    kinesis.merge_shards(StreamName=stream, ShardToMerge=low, AdjacentShardToMerge=high)
    (merged,) = (
        s for s, d in _shards(kinesis, stream).items() if d.get("AdjacentParentShardId") == high
    )
    shard, _ = _put(kinesis, stream, 1, b"merged")
    assert shard == merged

    for parent, data in ((low, b"low"), (high, b"high")):
        answers = _read_to_end(kinesis, stream, parent, limit=10)
        assert [r["Data"] for a in answers for r in a["Records"]] == [data]
        (child,) = answers[-1]["ChildShards"]
        assert child["ShardId"] == merged
        assert child["ParentShards"] == [low, high]
        assert child["HashKeyRange"] == {"StartingHashKey": "0", "EndingHashKey": str(MAX_HASH_KEY)}
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=merged, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=iterator)["Records"]] == [
        b"merged"
    ], "the merged shard starts empty: the parents' records stay in the parents"
