"""Resharding under the real KCL 3.1.3 MultiLangDaemon: a shard is split while consumed.

moto's own split is not AWS's: records put after the split still go to the closed parent,
and the parent's iterator never ends, so the KCL would never reach its end. The emulator
here runs with the AWS-resharding test shim (``Http2EmulatorProcess(aws_resharding=True)``,
:mod:`shardflow_tools.emulator_resharding`, itself tested against boto3 in
``tests/integration/shardflow/test_emulator_resharding.py``): children take the new
records, and GetRecords on the parent ends with ``ChildShards`` once it is read to its end.

The run, against a 2-shard stream:

1. batch 1 into both shards; start the daemon; wait until batch 1 is in S3;
2. batch 2 into both shards, then at once split the first shard (the parent) in two: the
   parent still holds records the daemon has not read;
3. batch 3: lands in both children and the untouched shard; wait until every event is in
   S3 and every lease is checkpointed; SIGTERM.

Asserted: every event is in S3 exactly once; the parent's lease is checkpointed at
SHARD_END, each child has a lease checkpointed at its last record; and, recorded by the
handler :mod:`kcl_reshard_probe` when each child's first record reached its processor
(before anything of the child was buffered or written), the parent was already
checkpointed at SHARD_END with all of its flushes committed in S3: the parent's output is
complete before any child record is written, which is the order the KCL guarantees (a
child's processing starts once its parents are checkpointed at SHARD_END) and the
processor's ``shard_ended`` (flush, then checkpoint) relies on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from faulttable import RESULTS, Row
from kcl_harness import (
    FIRST_START_TIMEOUT,
    SHARD_END,
    Daemon,
    Pipeline,
    all_once,
    checkpointed,
    handler_env,
)

from shardflow_tools.emulator_h2 import Http2EmulatorProcess

# The fault table's KCL row of case 4 (a shard split during consumption, issue 12): `make
# faults` runs it too. (Expired iterators cannot be injected into the KCL: its Kinesis
# client speaks HTTP/2, which the fault proxy passes through.)
pytestmark = [pytest.mark.slow, pytest.mark.faults]

#: From the split to every child record in S3: shard end, SHARD_END checkpoint, child
#: leases created, assigned and started (measured ~10-20 s here).
RESHARD_TIMEOUT = 120.0


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    with Http2EmulatorProcess(aws_resharding=True) as emu:
        yield emu.endpoint_url


def _split(p: Pipeline, shard_id: str) -> list[str]:
    """Split ``shard_id`` in the middle of its hash range; the children's ids."""
    shards = p.kinesis.list_shards(StreamName=p.stream)["Shards"]
    parent = next(s for s in shards if s["ShardId"] == shard_id)
    low = int(parent["HashKeyRange"]["StartingHashKey"])
    high = int(parent["HashKeyRange"]["EndingHashKey"])
    p.kinesis.split_shard(
        StreamName=p.stream, ShardToSplit=shard_id, NewStartingHashKey=str((low + high) // 2 + 1)
    )
    shards = p.kinesis.list_shards(StreamName=p.stream)["Shards"]
    children = sorted(s["ShardId"] for s in shards if s.get("ParentShardId") == shard_id)
    assert len(children) == 2
    return children


def test_split_while_consuming_parent_finishes_before_children(
    emulator: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    p = Pipeline.create(emulator, unique_name, tmp_path, shards=2)
    parent, other = sorted(
        s["ShardId"] for s in p.kinesis.list_shards(StreamName=p.stream)["Shards"]
    )
    probes = tmp_path / "probes"
    probes.mkdir()
    probe_env = handler_env(
        "kcl_reshard_probe:observe",
        SHARDFLOW_TEST_PROBE_DIR=str(probes),
        SHARDFLOW_TEST_LEASE_TABLE=p.app,
    )

    p.produce(batch=1, count=150)
    assert set(p.last) == {parent, other}
    with Daemon(p, 1, probe_env) as daemon:
        p.timings["start: batch 1 in S3"] = daemon.wait_for(
            "batch 1 in S3", all_once(p), FIRST_START_TIMEOUT
        )
        p.produce(batch=2, count=90)
        parent_last = p.last[parent]
        children = _split(p, parent)
        p.produce(batch=3, count=150)
        assert p.last[parent] == parent_last, "no record went to the closed parent"
        assert set(children) <= set(p.last), "batch 3 landed in both children"
        expected = {**p.last, parent: (SHARD_END, 0)}
        p.timings["split: everything in S3"] = daemon.wait_for(
            "every event in S3 after the split", all_once(p), RESHARD_TIMEOUT
        )
        p.timings["split: every lease checkpointed"] = daemon.wait_for(
            "the parent at SHARD_END and the children checkpointed",
            checkpointed(p, expected),
            RESHARD_TIMEOUT,
        )
        code, _ = daemon.terminate()
    assert code == 0, daemon.tail()
    p.assert_each_event_once("across the split")
    counts = p.output_ids()
    RESULTS.append(
        Row(
            case="shard split during consumption",
            runtime="kcl",
            acknowledged=len(p.ids),
            in_s3=sum(counts.values()),
            duplicates=sum(n - 1 for n in counts.values() if n > 1),
            dead_lettered=0,
            lost=len(set(p.ids) - set(counts)),
            recover_seconds=round(p.timings["split: everything in S3"], 1),
            injected={"SplitShard": 1},
        )
    )

    checkpoints = p.checkpoints()
    assert checkpoints[parent][0] == SHARD_END
    for child in children:
        assert checkpoints[child] == p.last[child], f"{child} checkpointed at its last record"

    # The parent's output as it is now: every manifest committed.
    parent_manifests = {
        key: json.loads(p.s3.get_object(Bucket=p.bucket, Key=key)["Body"].read())["status"]
        for key in p.keys(f"events/_manifests/{p.stream}/{parent}/")
    }
    assert parent_manifests, "the parent wrote to S3"
    assert set(parent_manifests.values()) == {"committed"}
    for child in children:
        probe = json.loads((probes / f"{child}.json").read_text())
        seen = probe["parents"]
        assert list(seen) == [parent]
        assert seen[parent]["checkpoint"] == SHARD_END, (
            f"{child}'s first record {probe['first']} reached the processor before its "
            f"parent was checkpointed at SHARD_END (it was {seen[parent]['checkpoint']})"
        )
        assert seen[parent]["manifests"] == parent_manifests, (
            f"{child}'s first record reached the processor before the parent's output was "
            "complete in S3"
        )
    for shard in (parent, other):
        assert json.loads((probes / f"{shard}.json").read_text())["parents"] == {}
    p.log_timings("kcl resharding e2e")
