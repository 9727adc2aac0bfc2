"""consumers.sink.testing: the in-memory store answers conditional writes as S3 does; the
manifest's stored form reads back; a writer keeps a bounded history of its flushes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consumers import Event, Origin, Position, S3Sink, SinkConfig
from consumers.sink.manifest import Manifest, WrittenObject
from consumers.sink.store import ConditionalConflictError, PreconditionFailedError
from consumers.sink.testing import InMemoryObjectStore, is_visible
from consumers.sink.writer import RECENT_FLUSHES


def test_conditional_writes_and_injected_conflicts() -> None:
    store = InMemoryObjectStore()
    etag = store.put("k", b"one", content_type="t", if_none_match=True)
    with pytest.raises(PreconditionFailedError):
        store.put("k", b"two", content_type="t", if_none_match=True)
    with pytest.raises(PreconditionFailedError):
        store.put("k", b"two", content_type="t", if_match='"other"')
    store.conflicts = 1
    with pytest.raises(ConditionalConflictError) as err:
        store.put("k", b"two", content_type="t", if_match=etag)
    assert err.value.error_code == "ConditionalRequestConflict"
    new = store.put("k", b"two", content_type="t", if_match=etag)  # the retry
    assert new != etag
    found = store.get("k")
    assert found is not None and found.body == b"two"
    assert store.requests["PutObject"] == 5


def test_hooks_see_every_request_and_can_fail_it_before_or_after() -> None:
    store = InMemoryObjectStore()
    seen: list[tuple[str, str]] = []
    store.before = lambda op, key: seen.append((op, key))

    def landed_then_failed(op: str, key: str) -> None:
        raise RuntimeError(op)

    store.after = landed_then_failed
    with pytest.raises(RuntimeError):
        store.put("k", b"x", content_type="t")
    assert store.objects["k"].body == b"x"  # it landed
    store.after = None
    assert store.copy("k", "c") and not store.copy("absent", "c2")
    store.delete(["k"])
    assert store.list_keys("") == ["c"]
    assert [op for op, _ in seen] == [
        "PutObject",
        "CopyObject",
        "CopyObject",
        "DeleteObjects",
        "ListObjectsV2",
    ]


def test_visible_is_what_athena_reads() -> None:
    assert is_visible("events/dt=2026-11-26/hr=10/a.parquet", "events")
    assert not is_visible("events/_manifests/s/shard/x.json", "events")
    assert not is_visible("events/dt=2026-11-26/.tmp/a.parquet", "events")
    assert not is_visible("other/dt=2026-11-26/a.parquet", "events")
    assert not is_visible("events2/a.parquet", "events")


def test_a_manifest_reads_back_as_written() -> None:
    manifest = Manifest(
        stream="s",
        shard_id="shardId-0",
        first=Position("10", 0),
        last=Position("12"),
        format="jsonl",
        records=3,
        skipped=1,
        bytes=99,
        first_arrival_time="2026-11-26T10:00:00.000Z",
        last_arrival_time="2026-11-26T10:00:01.000Z",
        objects=(WrittenObject("k", (("dt", "2026-11-26"), ("hr", "10")), 3, 99),),
        status="pending",
    )
    assert Manifest.from_json(manifest.to_json()) == manifest
    with pytest.raises(ValueError, match=r"shardflow\.manifest/1"):
        Manifest.from_json(b'{"status": "committed"}')


def test_a_writer_keeps_only_its_latest_flushes() -> None:
    config = SinkConfig(format="jsonl", max_records=1)
    writer = S3Sink("b", stream="s", config=config, store=InMemoryObjectStore()).shard("shardId-0")
    t = datetime(2026, 11, 26, 10, tzinfo=UTC)
    for i in range(RECENT_FLUSHES + 5):
        origin = Origin("s", "shardId-0", str(100 + i), None, "pk", t)
        env = {"id": str(i), "source": "t", "type": "t", "specversion": "1.0"}
        writer.add(Event(env, origin, b"x", None))
    assert len(writer.flushes) == RECENT_FLUSHES
    assert writer.flushes[-1].last == Position(str(100 + RECENT_FLUSHES + 4))
