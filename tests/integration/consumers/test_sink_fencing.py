"""The fenced commit protocol end to end on the emulator's S3 (real HTTP, real conditional
PUTs): two writers of one shard, each with its own client, leave every event exactly once as
Athena reads the table (every object under the prefix with no ``_``/``.``-prefixed segment).
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from consumers import Event, S3Sink, ShardWriter, SinkConfig, decode
from consumers.errors import FencedError
from consumers.sink.testing import is_visible

from .conftest import SHARD, list_keys, make_records, query

JSONL = SinkConfig(format="jsonl", max_records=1_000_000, max_span_seconds=3600)


def _events(n_records: int) -> list[Event]:
    out = []
    for rec in make_records("orders", n_records, per_aggregate=1):  # one event per record
        for item in decode(rec):
            assert isinstance(item, Event)
            out.append(item)
    return out


EVENTS = _events(200)


def _writer(client: Any, bucket: str, config: SinkConfig = JSONL) -> ShardWriter:
    return S3Sink(bucket, stream="orders", s3_client=client, config=config).shard(SHARD)


def _feed(writer: ShardWriter, first: int, last: int) -> None:
    for e in EVENTS[first - 1 : last]:
        writer.add(e)


def _athena(s3: Any, bucket: str) -> Counter[str]:
    ids: Counter[str] = Counter()
    for key in list_keys(s3, bucket):
        if is_visible(key, "events"):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            ids.update(orjson.loads(line)["id"] for line in gzip.decompress(body).splitlines())
    return ids


def _once(first: int, last: int) -> Counter[str]:
    return Counter(e.id for e in EVENTS[first - 1 : last])


@pytest.fixture
def zombie_s3(aws_client: Callable[[str], Any]) -> Any:
    return aws_client("s3")


def test_owner_flushes_first_then_the_zombie_is_fenced(
    s3: Any, zombie_s3: Any, bucket: str
) -> None:
    zombie = _writer(zombie_s3, bucket)
    _feed(zombie, 1, 100)
    owner = _writer(s3, bucket)
    _feed(owner, 1, 150)
    owner.flush()
    with pytest.raises(FencedError) as err:
        zombie.flush()
    assert err.value.first == EVENTS[0].origin.position
    assert err.value.last == EVENTS[99].origin.position
    assert zombie.checkpointable is None
    assert _athena(s3, bucket) == _once(1, 150)


def test_zombie_flushing_after_the_owner_loaded_the_manifests_is_fenced(
    s3: Any, zombie_s3: Any, bucket: str
) -> None:
    zombie = _writer(zombie_s3, bucket)
    _feed(zombie, 1, 100)
    owner = _writer(s3, bucket)
    _feed(owner, 1, 1)
    with pytest.raises(FencedError):
        zombie.flush()
    _feed(owner, 2, 150)
    owner.flush()
    assert _athena(s3, bucket) == _once(1, 150)
    assert not [k for k in list_keys(s3, bucket) if ".staging/" in k]


def test_owner_from_an_older_checkpoint_continues_after_the_zombies_flush(
    s3: Any, zombie_s3: Any, bucket: str
) -> None:
    zombie = _writer(zombie_s3, bucket)
    _feed(zombie, 1, 50)
    zombie.flush()
    _feed(zombie, 51, 120)
    owner = _writer(s3, bucket)
    _feed(owner, 1, 200)
    result = owner.flush()
    assert result is not None and result.first == EVENTS[50].origin.position
    with pytest.raises(FencedError):
        zombie.flush()
    assert zombie.checkpointable == EVENTS[49].origin.position
    assert _athena(s3, bucket) == _once(1, 200)


def _zombie_flush_requests(s3: Any, bucket: str) -> int:
    probe = _writer(s3, bucket, SinkConfig(format="jsonl", prefix="probe", max_records=10**6))
    _feed(probe, 1, 100)
    calls: list[str] = []

    def count(model: Any, **_: Any) -> None:
        calls.append(model.name)

    s3.meta.events.register("before-call.s3", count)
    try:
        probe.flush()
    finally:
        s3.meta.events.unregister("before-call.s3", count)
    return len(calls)


def _freezer(at: int, seen: list[str], owner: ShardWriter) -> Callable[..., None]:
    """A hook that, at request ``at``, lets the owner take over and flush 1..150."""

    def freeze(model: Any, **_: Any) -> None:
        seen.append(model.name)
        if len(seen) - 1 == at:
            _feed(owner, 1, 150)
            owner.flush()

    return freeze


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_zombie_frozen_at_each_request_of_its_flush(
    s3: Any, zombie_s3: Any, aws_client: Callable[[str], Any], bucket: str, fmt: str
) -> None:
    """At each request of the zombie's flush in turn (a fresh bucket each), the owner takes
    over and flushes everything; then the zombie wakes. Parquet read back with DuckDB."""
    n_requests = _zombie_flush_requests(s3, bucket)
    assert n_requests == 2 * 1 + 3  # one partition (10:58 to 10:59): 2P + 3
    config = SinkConfig(format=fmt, max_records=10**6, max_span_seconds=3600)  # type: ignore[arg-type]
    for at in range(n_requests):
        target = f"{bucket}-{at}"
        s3.create_bucket(Bucket=target)
        zombie = _writer(zombie_s3, target, config)
        _feed(zombie, 1, 100)
        owner = _writer(aws_client("s3"), target, config)
        seen: list[str] = []
        freeze = _freezer(at, seen, owner)
        zombie_s3.meta.events.register("before-call.s3", freeze)
        try:
            zombie.flush()
            landed = True
        except FencedError:
            landed = False
        finally:
            zombie_s3.meta.events.unregister("before-call.s3", freeze)
        # Fenced while staging or committing; landed when frozen after its commit (the
        # owner rolled it forward and continued after it).
        assert landed == (at > 1), (at, seen)
        ((rows, ids, dup),) = query(
            s3,
            target,
            "SELECT count(*), count(DISTINCT id), coalesce(max(c), 0) FROM "
            "(SELECT id, count(*) OVER (PARTITION BY id) AS c FROM events)",
        )
        assert (rows, ids, dup) == (150, 150, 1), at
        assert not [k for k in list_keys(s3, target) if ".staging/" in k]
