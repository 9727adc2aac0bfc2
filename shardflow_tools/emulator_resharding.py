"""Test-harness shim: make moto's Kinesis resharding behave as AWS does (opt-in).

moto 5.2 (checked against 5.2.5) gets three things about split and merge wrong, and a
consumer that follows shard lineage (the KCL) cannot be tested against it:

1. **Records after a reshard go to the closed parent.** moto routes a record to the first
   shard, in creation order, whose hash range holds its key, open or not; the children
   never receive a record.
2. **The parents' records are moved.** SplitShard re-puts the parent's records (back into
   the parent, see 1, with new sequence numbers), MergeShards copies both parents' records
   into the child. AWS leaves them where they are: a parent stays readable until its
   records expire, and its children start empty.
3. **A closed shard never ends.** GetRecords always returns a ``NextShardIterator`` and
   never ``ChildShards``, so a consumer polls the parent forever and the KCL never calls
   ``shardEnded``.

:func:`install` patches moto's classes **in the calling process only**, without copying
moto code: it wraps ``Stream.get_shard_for_key`` (route to the open shard holding the key),
``Stream.split_shard`` / ``Stream.merge_shards`` (the parents keep their records) and
``KinesisResponse.get_records`` (once an iterator of a closed shard is past its last
record, the answer has no ``NextShardIterator`` and lists the ``ChildShards``, each with
``ShardId``, ``ParentShards`` and ``HashKeyRange``, as AWS answers). It is applied by the
HTTP/2 emulator with ``--aws-resharding`` (``Http2EmulatorProcess(aws_resharding=True)``),
which the KCL resharding test uses. It is a test harness, not part of shardflow's runtime.

Not changed: ListShards still ignores ``ShardFilter`` (the KCL sends one only while its
lease table is empty), sequence numbers stay per shard (a child's start at 1, where AWS's
are larger than the parent's), and retention never trims a parent.

It relies on moto's internals, so it refuses to install, loudly, when they changed:
:func:`install` checks the names and signatures it wraps, then runs a split and a merge on a
scratch backend and checks the outcome; any difference undoes the patches and raises
:class:`ReshardingShimError` naming the moto version and what differed (the emulator then
exits instead of serving). Another moto version than ``TARGET_MOTO`` that passes these
checks is served with a warning. The patches stay for the life of the process: install it
only in a process that serves the emulator, never in one that also tests against plain
moto.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any, Final

from shardflow_tools.emulator import EmulatorError

logger = logging.getLogger(__name__)

#: The moto releases the shim was written and checked against (major.minor).
TARGET_MOTO: Final = "5.2"

_MAX_HASH_KEY: Final = (1 << 128) - 1
_SCRATCH_ACCOUNT: Final = "000000000000"
_SCRATCH_REGION: Final = "us-east-1"

#: The wrapped callables and the parameters the wrappers pass through by name.
_EXPECTED_SIGNATURES: Final[dict[str, tuple[str, ...]]] = {
    "Stream.get_shard_for_key": ("self", "partition_key", "explicit_hash_key"),
    "Stream.split_shard": ("self", "shard_to_split", "new_starting_hash_key"),
    "Stream.merge_shards": ("self", "shard_to_merge", "adjacent_shard_to_merge"),
    "KinesisResponse.get_records": ("self",),
}
#: Attributes of moto's ``Shard`` the shim reads or swaps.
_SHARD_ATTRIBUTES: Final = (
    "records",
    "is_open",
    "parent",
    "adjacent_parent",
    "starting_hash",
    "ending_hash",
    "shard_id",
)

_lock = threading.Lock()
_installed = False


class ReshardingShimError(EmulatorError):
    """moto's Kinesis internals are not what the shim was written for: it did not install."""


def moto_version() -> str:
    """The installed moto's version, or ``"missing"``."""
    try:
        return metadata.version("moto")
    except metadata.PackageNotFoundError:
        return "missing"


def _fail(what: str) -> ReshardingShimError:
    return ReshardingShimError(
        f"moto {moto_version()}: {what}. The AWS-resharding shim "
        f"(shardflow_tools.emulator_resharding, written for moto {TARGET_MOTO}.x) cannot install; "
        "re-check it against this moto's moto/kinesis/models.py and responses.py"
    )


def _moto_kinesis() -> tuple[Any, Any, Any, Any]:
    try:
        from moto.core.responses import ActionResult  # noqa: PLC0415 - optional dependency
        from moto.kinesis import models, responses  # noqa: PLC0415
        from moto.kinesis.utils import decompose_shard_iterator  # noqa: PLC0415
    except ImportError as exc:
        raise _fail(f"cannot import moto's Kinesis modules ({exc})") from exc
    return models, responses.KinesisResponse, ActionResult, decompose_shard_iterator


def _check_signatures(models: Any, response_cls: Any) -> None:
    owners = {"Stream": models.Stream, "KinesisResponse": response_cls}
    for qualified, expected in _EXPECTED_SIGNATURES.items():
        owner, name = qualified.split(".")
        func = getattr(owners[owner], name, None)
        if not callable(func):
            raise _fail(f"{qualified} is gone")
        params = tuple(inspect.signature(func).parameters)
        if params != expected:
            raise _fail(f"{qualified}{params} no longer takes {expected}")


# -- the behaviour AWS has (pure functions of moto's model objects) ----------------------


def _key_of(partition_key: str, explicit_hash_key: str | None) -> int:
    if explicit_hash_key:
        return int(explicit_hash_key)
    return int.from_bytes(
        hashlib.md5(partition_key.encode(), usedforsecurity=False).digest(), "big"
    )


def _open_shard_for(stream: Any, key: int) -> Any:
    """The open shard whose (inclusive) hash range holds ``key``: where AWS puts a record."""
    for shard in stream.shards.values():
        if shard.is_open and shard.starting_hash <= key <= shard.ending_hash:
            return shard
    return None


def child_shards(stream: Any, shard_id: str) -> list[dict[str, Any]]:
    """The ``ChildShards`` entries of ``shard_id`` as GetRecords reports them at shard end."""
    children = []
    for shard in stream.shards.values():
        parents = [p for p in (shard.parent, shard.adjacent_parent) if p]
        if shard_id in parents:
            children.append(
                {
                    "ShardId": shard.shard_id,
                    "ParentShards": parents,
                    "HashKeyRange": {
                        "StartingHashKey": str(shard.starting_hash),
                        "EndingHashKey": str(shard.ending_hash),
                    },
                }
            )
    return children


def at_shard_end(shard: Any, last_sequence_number: int) -> bool:
    """True when ``shard`` is closed and an iterator after ``last_sequence_number`` has
    nothing left to read (AWS then ends the iterator)."""
    if shard.is_open:
        return False
    last_record = max(shard.records, default=0)
    return last_sequence_number >= last_record


@contextlib.contextmanager
def _records_set_aside(*shards: Any) -> Iterator[None]:
    """Hide the shards' records from moto's split/merge (which would move them), then put
    them back: AWS leaves a parent's records in the parent."""
    saved = [shard.records for shard in shards]
    for shard in shards:
        shard.records = OrderedDict()
    try:
        yield
    finally:
        for shard, records in zip(shards, saved, strict=True):
            shard.records = records


# -- the wrappers ------------------------------------------------------------------------


def _wrap_get_shard_for_key(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_shard_for_key(self: Any, partition_key: str, explicit_hash_key: str) -> Any:
        # moto's own lookup validates the key (type, length, range) and raises its errors.
        shard = original(self, partition_key, explicit_hash_key)
        if shard is not None and shard.is_open:
            return shard
        return _open_shard_for(self, _key_of(partition_key, explicit_hash_key))

    return get_shard_for_key


def _wrap_split_shard(original: Callable[..., None]) -> Callable[..., None]:
    def split_shard(self: Any, shard_to_split: str, new_starting_hash_key: str) -> None:
        parent = self.shards.get(shard_to_split)
        if parent is None:
            original(self, shard_to_split, new_starting_hash_key)
            return
        with _records_set_aside(parent):
            original(self, shard_to_split, new_starting_hash_key)

    return split_shard


def _wrap_merge_shards(original: Callable[..., None]) -> Callable[..., None]:
    def merge_shards(self: Any, shard_to_merge: str, adjacent_shard_to_merge: str) -> None:
        parents = [self.shards.get(s) for s in (shard_to_merge, adjacent_shard_to_merge)]
        if None in parents:
            original(self, shard_to_merge, adjacent_shard_to_merge)
            return
        with _records_set_aside(*parents):
            original(self, shard_to_merge, adjacent_shard_to_merge)

    return merge_shards


def _wrap_get_records(
    original: Callable[..., Any], action_result: type, decompose: Callable[[str], list[str]]
) -> Callable[..., Any]:
    def get_records(self: Any) -> Any:
        answer = original(self)
        body = getattr(answer, "result", None)
        if not isinstance(body, dict) or "NextShardIterator" not in body:
            raise _fail(f"GetRecords answered {type(body).__name__} without NextShardIterator")
        stream_name, shard_id, last = decompose(body["NextShardIterator"])
        stream = self.kinesis_backend.describe_stream(
            stream_arn=self._get_param("StreamARN"), stream_name=stream_name
        )
        if not at_shard_end(stream.get_shard(shard_id), int(last)):
            return answer
        ended = {k: v for k, v in body.items() if k != "NextShardIterator"}
        ended["ChildShards"] = child_shards(stream, shard_id)
        ended["MillisBehindLatest"] = 0
        return action_result(ended)

    return get_records


# -- installation --------------------------------------------------------------------------


def _self_check(models: Any) -> None:
    """Split and merge on a scratch backend; raise if the outcome is not AWS's."""
    backend = models.KinesisBackend(_SCRATCH_REGION, _SCRATCH_ACCOUNT)
    stream = backend.create_stream("shardflow-shim-self-check", 1)
    parent = next(iter(stream.shards.values()))
    low_key, high_key = "0", str(_MAX_HASH_KEY)
    for key in (low_key, high_key):
        stream.put_record("k", key, "eA==")
    before = dict(parent.records)
    stream.split_shard(parent.shard_id, str(1 << 127))
    low = stream.get_shard_for_key("k", low_key)
    high = stream.get_shard_for_key("k", high_key)
    problems = []
    if dict(parent.records) != before or parent.is_open:
        problems.append("split did not leave the closed parent its records")
    if low is None or high is None or low is high or not (low.is_open and high.is_open):
        problems.append("records after a split do not go to the two open children")
    elif low.records or high.records:
        problems.append("split copied records into the children")
    elif not at_shard_end(parent, max(before)) or at_shard_end(parent, min(before)):
        problems.append("a closed parent's end is not where its last record is")
    elif [c["ShardId"] for c in child_shards(stream, parent.shard_id)] != [
        low.shard_id,
        high.shard_id,
    ]:
        problems.append("the parent's children are not found by their parent ids")
    else:
        stream.put_record("k", low_key, "eA==")
        stream.merge_shards(low.shard_id, high.shard_id)
        merged = stream.get_shard_for_key("k", low_key)
        if len(low.records) != 1 or merged is None or merged.records or not merged.is_open:
            problems.append("merge moved the parents' records or routes to a closed shard")
    if problems:
        raise _fail("; ".join(problems))


def install() -> None:
    """Patch moto's Kinesis in this process (idempotent); :class:`ReshardingShimError` if
    moto's internals differ from what the shim expects (nothing is left half-patched)."""
    global _installed  # noqa: PLW0603 - one patch per process
    with _lock:
        if _installed:
            return
        models, response_cls, action_result, decompose = _moto_kinesis()
        version = moto_version()
        if not version.startswith(f"{TARGET_MOTO}."):
            logger.warning(
                "moto %s: the AWS-resharding shim was written for moto %s.x; its checks "
                "passed, but re-check it against this version",
                version,
                TARGET_MOTO,
            )
        _check_signatures(models, response_cls)
        originals = {
            (models.Stream, "get_shard_for_key"): models.Stream.get_shard_for_key,
            (models.Stream, "split_shard"): models.Stream.split_shard,
            (models.Stream, "merge_shards"): models.Stream.merge_shards,
            (response_cls, "get_records"): response_cls.get_records,
        }
        models.Stream.get_shard_for_key = _wrap_get_shard_for_key(
            originals[(models.Stream, "get_shard_for_key")]
        )
        models.Stream.split_shard = _wrap_split_shard(originals[(models.Stream, "split_shard")])
        models.Stream.merge_shards = _wrap_merge_shards(originals[(models.Stream, "merge_shards")])
        response_cls.get_records = _wrap_get_records(
            originals[(response_cls, "get_records")], action_result, decompose
        )
        try:
            shard = models.Shard(0, 0, _MAX_HASH_KEY)
            missing = [a for a in _SHARD_ATTRIBUTES if not hasattr(shard, a)]
            if missing:
                raise _fail(f"moto's Shard has no {', '.join(missing)}")
            _self_check(models)
        except Exception as exc:
            for (owner, name), func in originals.items():
                setattr(owner, name, func)
            if isinstance(exc, ReshardingShimError):
                raise
            raise _fail(f"the self-check failed: {exc!r}") from exc
        _installed = True
    logger.info("moto %s: AWS resharding shim installed", moto_version())


def installed() -> bool:
    """Whether :func:`install` has patched moto in this process."""
    return _installed


__all__ = [
    "TARGET_MOTO",
    "ReshardingShimError",
    "at_shard_end",
    "child_shards",
    "install",
    "installed",
    "moto_version",
]
