"""The resharding test's handler: what a shard's processor sees before it writes anything.

The daemon's processors run it (``SHARDFLOW_KCL_HANDLER=kcl_reshard_probe:observe``, this
folder on ``PYTHONPATH``). On the first event of each shard, which the pipeline hands to
the handler before it buffers or writes the event, it records in
``$SHARDFLOW_TEST_PROBE_DIR/<shard>.json``: the shard's parents (ListShards), each parent's
checkpoint in the lease table (``$SHARDFLOW_TEST_LEASE_TABLE``) and each parent's sink
manifests in S3 with their status. The test then asserts that a child's first record
reached the processor only after its parent had been checkpointed at SHARD_END with every
one of the parent's flushes committed: the order the KCL guarantees and the processor's
``shard_ended`` (flush, then checkpoint) relies on.

It returns None: events are written unchanged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from consumers import Event
from consumers.sink import layout
from shardflow import aws, resources, settings

_seen: set[str] = set()


def _parents(stream: str, shard_id: str) -> list[str]:
    kinesis = aws.client("kinesis")
    for page in kinesis.get_paginator("list_shards").paginate(StreamName=stream):
        for shard in page["Shards"]:
            if shard["ShardId"] == shard_id:
                return [shard[k] for k in ("ParentShardId", "AdjacentParentShardId") if k in shard]
    raise LookupError(f"shard {shard_id} is not in stream {stream}")


def _parent_state(stream: str, parent: str) -> dict[str, Any]:
    lease = aws.client("dynamodb").get_item(
        TableName=os.environ["SHARDFLOW_TEST_LEASE_TABLE"],
        Key={"leaseKey": {"S": parent}},
        ConsistentRead=True,
    )
    s3 = aws.client("s3")
    bucket = os.environ[settings.BUCKET]
    prefix = layout.manifest_prefix(resources.OUTPUT_PREFIX, stream, parent)
    manifests = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            manifests[obj["Key"]] = json.loads(body)["status"]
    return {
        "checkpoint": lease.get("Item", {}).get("checkpoint", {}).get("S"),
        "manifests": manifests,
    }


def observe(event: Event) -> None:
    """Record the parents' state on a shard's first event; change nothing."""
    shard_id = event.origin.shard_id
    if shard_id in _seen:
        return
    _seen.add(shard_id)
    stream = event.origin.stream
    parents = _parents(stream, shard_id)
    probe = {
        "shard": shard_id,
        "first": str(event.origin.position),
        "parents": {parent: _parent_state(stream, parent) for parent in parents},
    }
    path = Path(os.environ["SHARDFLOW_TEST_PROBE_DIR"]) / f"{shard_id}.json"
    # A processor started again for the same shard keeps the first observation.
    try:
        with path.open("x") as out:
            json.dump(probe, out)
    except FileExistsError:
        pass
