"""The AWS-resharding shim: its pure rules, and its refusal to install over a changed moto.

Only refusals run in this process (they leave moto untouched, which is asserted); the
installed shim is tested in a child emulator process by
``tests/integration/shardflow/test_emulator_resharding.py``.
"""

from __future__ import annotations

from collections import OrderedDict
from types import SimpleNamespace
from typing import Any

import pytest
from moto.kinesis import models
from moto.kinesis.responses import KinesisResponse

from shardflow_tools import emulator_resharding as shim


def _shard(shard_id: str, *, open_: bool, records: int = 0, parents: tuple[str, ...] = ()) -> Any:
    return SimpleNamespace(
        shard_id=shard_id,
        is_open=open_,
        records=OrderedDict((n, object()) for n in range(1, records + 1)),
        parent=parents[0] if parents else None,
        adjacent_parent=parents[1] if len(parents) > 1 else None,
        starting_hash=0,
        ending_hash=9,
    )


def test_a_closed_shard_ends_after_its_last_record_only() -> None:
    closed = _shard("p", open_=False, records=3)
    assert not shim.at_shard_end(closed, 2)
    assert shim.at_shard_end(closed, 3)
    assert shim.at_shard_end(_shard("empty", open_=False), 0)
    assert not shim.at_shard_end(_shard("open", open_=True, records=3), 3)


def test_child_shards_name_every_parent_of_a_merge() -> None:
    stream = SimpleNamespace(
        shards={
            s.shard_id: s
            for s in (
                _shard("a", open_=False),
                _shard("b", open_=False),
                _shard("ab", open_=True, parents=("a", "b")),
            )
        }
    )
    expected = [
        {
            "ShardId": "ab",
            "ParentShards": ["a", "b"],
            "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": "9"},
        }
    ]
    assert shim.child_shards(stream, "a") == expected
    assert shim.child_shards(stream, "b") == expected
    assert shim.child_shards(stream, "ab") == []


def _moto_kinesis_methods() -> dict[str, Any]:
    return {
        "get_shard_for_key": models.Stream.get_shard_for_key,
        "split_shard": models.Stream.split_shard,
        "merge_shards": models.Stream.merge_shards,
        "get_records": KinesisResponse.get_records,
    }


def test_refuses_when_a_wrapped_method_changed_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    def split_shard(self: Any, shard_id: str, hash_key: str, extra: int = 0) -> None:
        raise AssertionError("not called")

    monkeypatch.setattr(models.Stream, "split_shard", split_shard)
    before = _moto_kinesis_methods()
    with pytest.raises(shim.ReshardingShimError, match=r"moto \S+: Stream\.split_shard"):
        shim.install()
    assert _moto_kinesis_methods() == before
    assert not shim.installed()


def test_refuses_and_unpatches_when_the_self_check_sees_other_behaviour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = models.Stream.split_shard

    def split_shard(self: Any, shard_to_split: str, new_starting_hash_key: str) -> None:
        # A moto whose split leaves the parent open: same signature, other behaviour.
        original(self, shard_to_split, new_starting_hash_key)
        self.shards[shard_to_split].is_open = True

    monkeypatch.setattr(models.Stream, "split_shard", split_shard)
    before = _moto_kinesis_methods()
    with pytest.raises(shim.ReshardingShimError, match="split did not leave the closed parent"):
        shim.install()
    assert _moto_kinesis_methods() == before, "nothing left half-patched"
    assert not shim.installed()
