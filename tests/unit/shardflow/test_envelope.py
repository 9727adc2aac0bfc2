"""The envelope: ids, times, required attributes, parse errors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    etype=st.text(max_size=20),
    source=st.none() | st.text(max_size=20) | st.integers(-(2**63), 2**63 - 1),
    data=_json_values,
    extra=st.none() | st.sampled_from(["subject", "id", "time"]),
)
def test_encode_event_is_byte_identical_to_encode_of_build(
    etype: str, source: object, data: object, extra: str | None
) -> None:
    event: dict[str, object] = {"type": etype, "data": data}
    if source is not None:
        event["source"] = source
    if extra:
        event[extra] = "2020-01-01T00:00:00Z" if extra == "time" else "x"
    try:
        expected_error = None
        envelope.build(event, default_source="app")
    except InvalidEnvelopeError as exc:
        expected_error = exc
    if expected_error is not None:
        with pytest.raises(InvalidEnvelopeError):
            envelope.encode_event(event, default_source="app")
        return
    encoded = envelope.encode_event(event, default_source="app")
    decoded = orjson.loads(encoded)
    # Same id and time as the encoded one, then the two paths must agree byte for byte.
    pinned = {**event, "id": decoded["id"], "time": decoded["time"]}
    assert encoded == envelope.encode(envelope.build(pinned, default_source="app"))
    assert list(decoded) == [
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "data",
        *([extra] if extra == "subject" else []),
    ]


def test_encode_event_rejects_values_json_cannot_hold() -> None:
    with pytest.raises(TypeError):
        envelope.encode_event({"type": "t", "data": {1, 2}}, default_source="app")


def test_encode_event_ids_are_unique_increasing_and_match_the_time() -> None:
    # More than 4,096 ids: the counter's cached high bits roll over several times.
    events = [
        orjson.loads(envelope.encode_event({"type": "t", "data": i}, default_source="s"))
        for i in range(10_000)
    ]
    ids = [e["id"] for e in events]
    assert len(set(ids)) == len(ids) and ids == sorted(ids)
    assert {uuid.UUID(i).version for i in ids} == {7}
    for event in events[::997]:
        assert envelope.format_time(int(event["id"].replace("-", "")[:12], 16)) == event["time"]
    # Interleaved with the other id paths, all stay unique and increasing.
    mixed = [
        envelope.new_event_id()
        if i % 2
        else orjson.loads(envelope.encode_event({"type": "t", "data": i}, default_source="s"))["id"]
        for i in range(5000)
    ]
    assert len(set(mixed)) == len(mixed) and mixed == sorted(mixed)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"type": "t", "id": 5}, "id"),
        ({"type": "t", "id": False}, "id"),
        ({"type": "t", "source": 3}, "source"),
        ({"type": "t", "time": "not-a-time"}, "time"),
        ({"type": "t", "time": 12345}, "time"),
        ({"type": "t", "time": "2026-11-26T14:00:00"}, "time"),
        ({"type": "t", "time": datetime(2026, 11, 26)}, "time"),
    ],
)
def test_build_refuses_attributes_consumers_reject(event: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidEnvelopeError) as info:
        envelope.build(event, default_source="app")
    assert info.value.field == field
    # encode_event takes the same decision (its fast path never sees these shapes).
    with pytest.raises(InvalidEnvelopeError):
        envelope.encode_event({**event, "data": {}}, default_source="app")


def test_build_refuses_a_default_source_that_is_not_a_string() -> None:
    with pytest.raises(InvalidEnvelopeError) as info:
        envelope.build({"type": "t"}, default_source="")
    assert info.value.field == "source"


def test_time_of_parses_or_names_the_time() -> None:
    assert envelope.time_of({}) is None
    assert envelope.time_of({"time": None}) is None
    assert envelope.time_of({"time": "2026-11-26T16:00:00+02:00"}) == datetime(
        2026, 11, 26, 14, tzinfo=UTC
    )
    assert envelope.time_of({"time": "2026-11-26T14:00:00.250Z"}).tzinfo is UTC  # type: ignore[union-attr]
    for bad in (17, "soon", "2026-11-26T14:00:00"):
        with pytest.raises(InvalidEnvelopeError) as info:
            envelope.time_of({"time": bad})
        assert info.value.field == "time"
