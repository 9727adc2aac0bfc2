"""The one handler contract of both runtimes (KCL and Lambda).

A handler is a function called with each decoded :class:`~consumers.Event` before it is
written:

* it returns ``None``: the event is written unchanged;
* it returns a mapping: that envelope is written instead, at the event's origin. It must be
  an envelope, checked as a record's payload is (JSON, ``id``, ``source``, ``type``,
  ``specversion``, a readable ``time``); otherwise :class:`~consumers.errors.HandlerResultError`;
* it raises (or returns anything else): the event failed, and the runtime's failure policy
  (:mod:`consumers.failure_policy`) decides what it gets: the dead-letter queue at once
  (the KCL's default) or a retry, until it has failed ``max_attempts`` times (the Lambda
  handler's default).

The pipeline calls a :data:`HandlerStep`: the handler with its result checked
(:func:`handler_step`), or, in the Lambda runtime, the same under idempotency.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from consumers.decoding import decode_user_record
from consumers.errors import HandlerResultError
from consumers.records import Event, PoisonRecord
from shardflow import envelope
from shardflow.imports import load_callable

#: The user's handler: an event in; None (write it), a mapping (write that), or raise.
Handler = Callable[[Event], Mapping[str, Any] | None]

#: What the pipeline calls for each event: the event to write, or None when the event is
#: in the dead-letter queue already (an earlier run sent it there: skip it).
HandlerStep = Callable[[Event], Event | None]


def replacement(event: Event, result: object) -> Event:
    """The event a handler's ``result`` stands for (``event`` itself for None).

    Raises :class:`~consumers.errors.HandlerResultError` naming why it cannot be written: an
    invalid envelope raised later, in the sink, would escape the pipeline instead of
    failing this event.
    """
    if result is None:
        return event
    if not isinstance(result, Mapping):
        raise _invalid(
            event, f"handler returned {type(result).__name__}, expected a mapping or None"
        )
    try:
        data = envelope.encode(result)
    except TypeError as exc:
        raise _invalid(event, f"handler returned a mapping JSON cannot hold: {exc}") from exc
    replaced = decode_user_record(data, event.origin)
    if isinstance(replaced, PoisonRecord):
        raise _invalid(event, f"handler returned an invalid envelope: {replaced.error}")
    return replaced


def _invalid(event: Event, why: str) -> HandlerResultError:
    origin = event.origin
    return HandlerResultError(
        why,
        stream=origin.stream,
        shard_id=origin.shard_id,
        sequence_number=origin.sequence_number,
    )


def handler_step(handler: Handler) -> HandlerStep:
    """``handler`` as the pipeline calls it: its result checked and made an event."""

    def step(event: Event) -> Event | None:
        result = handler(event)
        return event if result is None else replacement(event, result)

    return step


def load_handler(spec: str, *, field: str) -> Handler:
    """Import ``package.module:function``; :class:`~shardflow.errors.ConfigError` naming
    ``field`` (the setting it came from) if it is not a callable."""
    handler: Handler = load_callable(spec, field=field)
    return handler
