"""The envelope: ids, times, required attributes, parse errors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest

from shardflow import envelope
from shardflow.errors import InvalidEnvelopeError


def test_ids_are_uuid7_unique_and_increasing() -> None:
    ids = [envelope.new_event_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    ms = int(ids[0].replace("-", "")[:12], 16)
    assert abs(ms / 1000 - datetime.now(UTC).timestamp()) < 5


def test_build_fills_attributes_and_keeps_callers() -> None:
    env = envelope.build({"type": "page_view", "data": {"u": 1}}, default_source="app")
    assert env["specversion"] == "1.0"
    assert env["source"] == "app"
    assert env["type"] == "page_view"
    assert env["data"] == {"u": 1}
    assert envelope.parse_time(env["time"]).tzinfo is not None
    custom = envelope.build(
        {
            "type": "t",
            "source": "s",
            "id": "fixed",
            "time": "2020-01-01T00:00:00Z",
            "subject": "x",
            "data": None,
        },
        default_source="app",
    )
    assert (custom["id"], custom["source"], custom["time"], custom["subject"]) == (
        "fixed",
        "s",
        "2020-01-01T00:00:00Z",
        "x",
    )


@pytest.mark.parametrize("event", [{}, {"type": ""}, {"type": 3, "data": 1}])
def test_build_requires_type(event: dict[str, object]) -> None:
    with pytest.raises(InvalidEnvelopeError, match="type") as info:
        envelope.build(event, default_source="app")
    assert info.value.field == "type"


def test_parse_round_trip() -> None:
    env = envelope.build({"type": "t", "data": {"k": "ü"}}, default_source="app")
    assert envelope.parse(envelope.encode(env)) == env


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"not json", "not JSON"),
        (b"[1,2]", "JSON object"),
        (orjson.dumps({"id": "1", "source": "s", "specversion": "1.0"}), "'type'"),
        (orjson.dumps({"id": "", "source": "s", "type": "t", "specversion": "1.0"}), "'id'"),
    ],
)
def test_parse_rejects(payload: bytes, match: str) -> None:
    with pytest.raises(InvalidEnvelopeError, match=match):
        envelope.parse(payload)


def test_time_format_and_parse() -> None:
    assert envelope.format_time(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"
    assert envelope.parse_time("2023-11-14T22:13:20.123Z") == datetime(
        2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC
    )
    assert envelope.parse_time("2023-11-14T23:13:20+01:00").hour == 22
    with pytest.raises(InvalidEnvelopeError, match="offset"):
        envelope.parse_time("2023-11-14T22:13:20")
    with pytest.raises(InvalidEnvelopeError, match="RFC 3339"):
        envelope.parse_time("yesterday")


def test_stamp_time_matches_id_millisecond() -> None:
    env = envelope.build({"type": "t"}, default_source="app")
    id_ms = int(env["id"].replace("-", "")[:12], 16)
    assert envelope.format_time(id_ms) == env["time"]


def test_ids_stay_increasing_when_the_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    import time as time_mod

    first = envelope.new_event_id()
    real = time_mod.time_ns()
    monkeypatch.setattr(envelope.time, "time_ns", lambda: real - 10_000_000_000)
    later = [envelope.new_event_id() for _ in range(100)]
    assert [first, *later] == sorted({first, *later})
