"""The event envelope: CloudEvents attribute names, JSON on the wire (orjson).

An event on the stream is one JSON object::

    {"specversion": "1.0", "id": "0193…", "source": "app/checkout", "type": "page_view",
     "time": "2026-11-26T14:26:41.123Z", "data": {...}}

``id`` is a UUIDv7 (unique, ordered by creation time within a process) and is the
idempotency key consumers use. Producers fill ``id``, ``time`` and ``specversion`` and keep
the caller's ``type``, ``source``, ``data`` and any CloudEvents extension attributes.

A valid envelope, for producers and consumers alike (one definition, here): a JSON object
whose ``specversion``, ``id``, ``source`` and ``type`` are non-empty strings and whose
``time`` is absent, null or an RFC 3339 timestamp with a UTC offset. :func:`parse` and
:func:`time_of` check it on the way in (the consumers dead-letter what fails as
``invalid_envelope``); :func:`build` and :func:`encode_event` on the way out, so a producer
refuses such an event when it is put instead of sending it.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final
from uuid import UUID

import orjson

from shardflow.errors import InvalidEnvelopeError

_fromisoformat: Final = datetime.fromisoformat

SPECVERSION: Final = "1.0"
#: Attributes every envelope carries after the producer has filled it in.
REQUIRED_ATTRIBUTES: Final = ("specversion", "id", "source", "type")
#: The envelope's attributes in column order (what the S3 sink writes).
ATTRIBUTES: Final = ("id", "source", "type", "time", "specversion", "data")


class _EventIds:
    """UUIDv7 generator (RFC 9562): 48-bit Unix milliseconds, then per-process bits.

    Layout after the timestamp: version 7, 12 random node bits, variant ``10``, 14 more
    random node bits, and a 48-bit counter that starts at a random value and counts up for
    every id (RFC 9562 section 6.2 allows the random bits to hold a monotonic counter).
    Everything before the counter changes at most once per millisecond, so the text up to
    the last group is formatted once per millisecond and an id costs one counter step and
    one short format. Ids are strictly increasing within a process (a clock that steps
    back keeps the last millisecond) and collide across processes only if the 26 node bits,
    the millisecond and the counter all coincide.
    """

    _COUNTER_MASK: Final = (1 << 48) - 1

    def __init__(self) -> None:
        self._reseed()
        # A forked child must not repeat its parent's ids.
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        seed = int.from_bytes(os.urandom(10), "big")
        node_a = seed & 0xFFF
        node_b = (seed >> 12) & 0x3FFF
        self._tail = f"-7{node_a:03x}-{0x8000 | node_b:04x}-"
        # The counter starts in the lower half of its range so it cannot wrap in practice.
        self._counter = itertools.count((seed >> 26) & ((1 << 47) - 1))
        # (millisecond, "xxxxxxxx-xxxx-7xxx-xxxx-" as str and as bytes, its RFC 3339 time,
        # and ',"time":"<time>","data":' for encode_event), swapped as one object between
        # threads.
        self._prefix: tuple[int, str, bytes, str, bytes] = (-1, "", b"", "", b"")
        # For encode_event: (millisecond, counter >> 12, the envelope's JSON up to the
        # id's last three hex digits, ',"time":"<time>","data":'). The counter's low 12 bits
        # come from _HEX3, so an id is formatted once per 4,096 ids or per millisecond.
        self._json: tuple[int, int, bytes, bytes] = (-1, -1, b"", b"")

    def _current(self) -> tuple[int, str, bytes, str, bytes]:
        ms = time.time_ns() // 1_000_000
        current = self._prefix
        if ms > current[0]:
            current = self._advance(ms)
        return current

    def _advance(self, ms: int) -> tuple[int, str, bytes, str, bytes]:
        h = f"{ms & 0xFFFF_FFFF_FFFF:012x}"
        prefix = f"{h[:8]}-{h[8:]}{self._tail}"
        text = format_time(ms)
        self._prefix = (
            ms,
            prefix,
            prefix.encode(),
            text,
            (',"time":"' + text + '","data":').encode(),
        )
        return self._prefix

    def advance_json(self, ms: int, high: int) -> tuple[int, int, bytes, bytes]:
        """The encode_event state for millisecond ``ms`` and counter bits ``high``."""
        current = self._prefix
        if ms > current[0]:
            current = self._advance(ms)
        state = (
            current[0],
            high,
            b"%s%s%09x" % (_HEAD, current[2], high & 0xF_FFFF_FFFF),
            current[4],
        )
        self._json = state
        return state

    def new(self) -> str:
        return f"{self._current()[1]}{next(self._counter) & self._COUNTER_MASK:012x}"

    def stamp(self) -> tuple[str, str]:
        """A new id and the envelope time of the same millisecond (one clock read)."""
        current = self._current()
        return f"{current[1]}{next(self._counter) & self._COUNTER_MASK:012x}", current[3]


# The envelope's JSON up to the id: written by encode_event (and _EventIds.advance_json).
_HEAD: Final = b'{"specversion":"' + SPECVERSION.encode() + b'","id":"'
#: "000" .. "fff": the id's last three hex digits, by the counter's low 12 bits.
_HEX3: Final = tuple(b"%03x" % i for i in range(4096))

_ids = _EventIds()


def new_event_id() -> str:
    """A new UUIDv7 string: unique, and increasing within this process."""
    return _ids.new()


class _Clock:
    """RFC 3339 UTC timestamps with millisecond precision, formatted once per millisecond."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ms = -1
        self._text = ""

    def now(self) -> str:
        ms = time.time_ns() // 1_000_000
        if ms != self._ms:
            text = format_time(ms)
            with self._lock:
                self._ms, self._text = ms, text
            return text
        return self._text


# (second, "YYYY-MM-DDTHH:MM:SS") of the last formatted second: strftime is slow next to
# everything else an event costs, and consecutive milliseconds share their second.
_last_second: tuple[int, str] = (-1, "")


def format_time(epoch_ms: int) -> str:
    """``epoch_ms`` as ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    global _last_second  # noqa: PLW0603 - a one-entry cache
    secs, ms = divmod(epoch_ms, 1000)
    cached = _last_second
    if cached[0] != secs:
        cached = _last_second = (secs, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)))
    return f"{cached[1]}.{ms:03d}Z"


def parse_time(value: str) -> datetime:
    """An RFC 3339 timestamp (as producers write it, or any offset) as an aware UTC datetime."""
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidEnvelopeError(f"time {value!r} is not RFC 3339", field="time") from exc
    if parsed.tzinfo is None:
        raise InvalidEnvelopeError(f"time {value!r} has no UTC offset", field="time")
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:  # "0001-01-01T00:00:00+01:00" is before year 1 in UTC
        raise InvalidEnvelopeError(f"time {value!r} is out of range in UTC", field="time") from exc


_clock = _Clock()


def now() -> str:
    """The current time as the envelope's ``time`` attribute."""
    return _clock.now()


def build(event: Mapping[str, Any], *, default_source: str) -> dict[str, Any]:
    """The envelope for a caller's event, checked by the rules consumers apply.

    Keeps the caller's attributes and fills ``specversion``, ``id`` (unless given), ``time``
    (unless given) and ``source`` (``default_source`` unless given); an empty string or
    None counts as not given. ``type`` is required. Raises
    :class:`~shardflow.errors.InvalidEnvelopeError` naming the attribute when the envelope
    would be one a consumer dead-letters (see :func:`parse` and :func:`time_of`). Besides
    strings, ``id`` may be a :class:`uuid.UUID` and ``time`` a timezone-aware
    :class:`datetime.datetime`: orjson writes both as the strings consumers need.
    """
    get = event.get
    etype = get("type")
    if not isinstance(etype, str) or not etype:
        raise InvalidEnvelopeError("event needs a non-empty string 'type'", field="type")
    event_id = get("id")
    event_time = get("time")
    source = get("source")
    if (
        event_id is not None
        or event_time is not None
        or not (source is None or source.__class__ is str)
    ):
        _check_given(event_id, event_time, source)
    if not source:
        source = default_source
        if source.__class__ is not str or not source:
            _check_string("source", source)
    if not event_id and not event_time:
        event_id, event_time = _ids.stamp()
    env: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": event_id or _ids.new(),
        "source": source,
        "type": etype,
        "time": event_time or _clock.now(),
    }
    # The common shapes ({type, data} and {type, source, data}) skip the generic copy loop.
    size = len(event)
    if "data" in event and (size == 2 or (size == 3 and "source" in event)):
        env["data"] = event["data"]
    else:
        for key, value in event.items():
            if key not in env:
                env[key] = value
    return env


def _check_given(event_id: object, event_time: object, source: object) -> None:
    """The consumers' rules (:func:`parse`, :func:`time_of`) for the attributes a caller
    gave (None or an empty string is filled in), plus the values orjson writes as the
    strings consumers need: a UUID ``id``, an aware datetime ``time``."""
    # Exact strings (the common case) are checked inline: this runs for every such event.
    if event_id.__class__ is not str and _given(event_id) and not isinstance(event_id, UUID):
        _check_string("id", event_id)
    if source.__class__ is not str and _given(source):
        _check_string("source", source)
    if event_time.__class__ is str:
        if event_time:
            _time(event_time)
    elif isinstance(event_time, datetime):
        if event_time.utcoffset() is None:
            raise InvalidEnvelopeError(
                f"envelope attribute 'time' is a datetime without a UTC offset "
                f"({event_time.isoformat()}); give it a tzinfo",
                field="time",
            )
    elif _given(event_time):
        _time(event_time)


def _given(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value)


def _check_required(env: Mapping[str, Any]) -> None:
    for attr in REQUIRED_ATTRIBUTES:
        value = env.get(attr)
        if value.__class__ is not str or not value:
            _check_string(attr, value)


def _check_string(attr: str, value: object) -> None:
    if isinstance(value, str) and value:
        return  # a str subclass (a StrEnum member) is written as its string
    if value is None:
        message = f"envelope attribute {attr!r} is missing"
    elif isinstance(value, str):
        message = f"envelope attribute {attr!r} must be a non-empty string, got ''"
    else:
        message = (
            f"envelope attribute {attr!r} must be a non-empty string, got {type(value).__name__}"
        )
    raise InvalidEnvelopeError(message, field=attr)


def time_of(env: Mapping[str, Any]) -> datetime | None:
    """The envelope's ``time`` as an aware UTC datetime; None when it has none (or null).

    Raises :class:`~shardflow.errors.InvalidEnvelopeError` when ``time`` is not a string
    or not an RFC 3339 timestamp with a UTC offset.
    """
    value = env.get("time")
    return None if value is None else _time(value)


def _time(value: object) -> datetime:
    if not isinstance(value, str):
        raise InvalidEnvelopeError(
            f"envelope attribute 'time' must be an RFC 3339 string, got {type(value).__name__}",
            field="time",
        )
    try:
        # Fast path: what producers write ("…Z") parses straight to UTC.
        parsed = _fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is not UTC:
        parsed = parse_time(value)  # other offsets, or the precise error
    return parsed


# encode_event's pieces: per (source, type) the JSON from the end of the id to the start of
# the time.
_MIDDLES: dict[tuple[str, str], bytes] = {}
_time_ns: Final = time.time_ns
_dumps: Final = orjson.dumps
_MIDDLES_LIMIT: Final = 4096


def _middle(source: str, etype: str) -> bytes:
    middle = b"".join((b'","source":', orjson.dumps(source), b',"type":', orjson.dumps(etype)))
    if len(_MIDDLES) >= _MIDDLES_LIMIT:
        _MIDDLES.clear()
    _MIDDLES[source, etype] = middle
    return middle


def encode_event(event: Mapping[str, Any], default_source: str, now_ms: int | None = None) -> bytes:
    """``encode(build(event, default_source=...))`` in one step, byte for byte.

    The common shapes (``{type, data}`` and ``{type, source, data}`` with string values)
    skip the intermediate dict: the envelope's own attributes are spliced around the
    orjson serialisation of ``data``. Everything else goes through :func:`build`.
    ``now_ms`` (Unix milliseconds) stands for the clock, so a caller encoding a batch
    reads it once; ids stay unique and increasing.
    """
    if event.__class__ is dict and "data" in event:
        size = len(event)
        source = event.get("source") if size == 3 else default_source
        etype = event.get("type")
        if (
            (size == 2 or (size == 3 and source is not None))
            and etype.__class__ is str
            and etype
            and source.__class__ is str
            and source
        ):
            middle = _MIDDLES.get((source, etype)) or _middle(source, etype)
            # A new id and the time, inlined (this runs for every event the producer
            # sends): the state holds everything up to the id's last three hex digits
            # for this millisecond and these counter bits, so an id is one table lookup.
            ms = _time_ns() // 1_000_000 if now_ms is None else now_ms
            n = next(_ids._counter)
            state = _ids._json
            if ms > state[0] or n >> 12 != state[1]:
                state = _ids.advance_json(ms, n >> 12)
            return b"".join(
                (state[2], _HEX3[n & 0xFFF], middle, state[3], _dumps(event["data"]), b"}")
            )
    return orjson.dumps(build(event, default_source=default_source))


def encode(envelope: Mapping[str, Any]) -> bytes:
    """The envelope as compact JSON bytes.

    Raises ``TypeError`` (orjson's ``JSONEncodeError``) for values JSON cannot hold; the
    producer turns that into its own error naming the event.
    """
    return orjson.dumps(envelope)


def parse(payload: bytes | str) -> dict[str, Any]:
    """Decode and validate an envelope (its ``time`` is checked by :func:`time_of`).

    Raises :class:`~shardflow.errors.InvalidEnvelopeError` when the payload is not JSON,
    not an object, or lacks one of :data:`REQUIRED_ATTRIBUTES` (as a non-empty string).
    """
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidEnvelopeError(f"payload is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise InvalidEnvelopeError(f"envelope must be a JSON object, got {type(obj).__name__}")
    _check_required(obj)
    return obj
