"""The one consumer pipeline: decode, poison to the dead-letter queue, handler, output, with
each runtime's failure policy, pure (in-memory queue, output and attempt counter)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from consumers import Event, KinesisRecord, Origin, PoisonRecord, decode
from consumers.errors import EventProcessingError, HandlerResultError
from consumers.failure_policy import DeadLetterAtOnce, RetryThenDeadLetter
from consumers.handler import handler_step, replacement
from consumers.pipeline import Counts, EventPipeline
from shardflow import envelope, kpl

ARRIVAL = datetime(2026, 11, 26, 14, 26, 41, tzinfo=UTC)


def _data(event_id: str, **extra: Any) -> bytes:
    return envelope.encode(
        envelope.build({"id": event_id, "type": "t", "data": extra}, default_source="tests")
    )


def _record(seq: int, data: bytes) -> KinesisRecord:
    return KinesisRecord("s", "shardId-000000000001", str(seq), "pk", data, ARRIVAL)


class _Output:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.skipped: list[Origin] = []

    def add(self, event: Event) -> None:
        self.events.append(event)

    def skip(self, origin: Origin) -> None:
        self.skipped.append(origin)


class _Queue:
    def __init__(self) -> None:
        self.sent: list[PoisonRecord] = []

    def send(self, poison: PoisonRecord) -> None:
        self.sent.append(poison)


@dataclass
class _Attempts:
    failures: int
    dead_lettered: bool = False


@dataclass
class _Counter:
    counts: dict[str, int] = field(default_factory=dict)
    dead: set[str] = field(default_factory=set)

    def record_failure(self, origin: Origin) -> _Attempts:
        key = str(origin.position)
        self.counts[key] = self.counts.get(key, 0) + 1
        return _Attempts(self.counts[key], key in self.dead)

    def mark_dead_lettered(self, origin: Origin) -> None:
        self.dead.add(str(origin.position))


def _failing_on(*ids: str) -> Any:
    def handle(event: Event) -> None:
        if event.id in ids:
            raise RuntimeError(f"cannot handle {event.id}")

    return handle


def test_without_a_handler_valid_events_are_written_and_poison_dead_lettered() -> None:
    queue, output, counts = _Queue(), _Output(), Counts()
    pipeline = EventPipeline(dead_letters=queue)
    aggregate = kpl.aggregate([("a", _data("e2")), ("b", b"not json"), ("c", _data("e3"))])
    for record in [_record(1, _data("e1")), _record(2, aggregate)]:
        pipeline.process(record, output, counts)
    assert [e.id for e in output.events] == ["e1", "e2", "e3"]
    assert [p.reason for p in queue.sent] == ["invalid_envelope"]
    assert [str(o.position) for o in output.skipped] == ["2.1"]
    assert counts == Counts(events=3, failed=0, dead_lettered=1)


def test_handler_contract_none_writes_unchanged_a_mapping_replaces() -> None:
    def handle(event: Event) -> Any:
        if event.id == "e2":
            return {**event.envelope, "type": "replaced"}
        return None

    output = _Output()
    pipeline = EventPipeline(dead_letters=_Queue(), handler=handler_step(handle))
    for seq, event_id in [(1, "e1"), (2, "e2")]:
        pipeline.process(_record(seq, _data(event_id)), output, Counts())
    assert [(e.id, e.type) for e in output.events] == [("e1", "t"), ("e2", "replaced")]
    assert output.events[1].origin == output.events[0].origin._replace(sequence_number="2")


@pytest.mark.parametrize(
    ("result", "why"),
    [
        (42, "handler returned int, expected a mapping or None"),
        ({"id": "x"}, "handler returned an invalid envelope"),
        ({"id": "x", "type": "t", "source": "s", "specversion": "1.0", "d": object()}, "JSON"),
    ],
)
def test_a_result_that_cannot_be_written_is_a_failure_of_the_event(result: Any, why: str) -> None:
    event = Event.from_envelope(
        envelope.parse(_data("e1")), _record(7, b"").origin._replace(partition_key="k")
    )
    with pytest.raises(HandlerResultError, match=why) as info:
        replacement(event, result)
    assert info.value.sequence_number == "7" and info.value.shard_id == "shardId-000000000001"


def test_dead_letter_at_once_sends_failed_events_and_moves_on() -> None:
    queue, output, counts = _Queue(), _Output(), Counts()

    def handle(event: Event) -> Any:
        if event.id == "e2":
            return 42  # not writable: as much a failure as raising
        _failing_on("e1")(event)
        return None

    pipeline = EventPipeline(
        dead_letters=queue, handler=handler_step(handle), policy=DeadLetterAtOnce()
    )
    for seq, event_id in [(1, "e1"), (2, "e2"), (3, "e3")]:
        pipeline.process(_record(seq, _data(event_id)), output, counts)
    assert [e.id for e in output.events] == ["e3"]
    assert [(p.reason, p.origin.sequence_number) for p in queue.sent] == [
        ("handler_failed", "1"),
        ("handler_failed", "2"),
    ]
    assert queue.sent[0].error == "RuntimeError: cannot handle e1"
    assert queue.sent[1].error == "handler returned int, expected a mapping or None"
    assert counts == Counts(events=1, failed=2, dead_lettered=2)


def test_retry_then_dead_letter_raises_until_max_attempts_then_remembers() -> None:
    queue, counter, marked = _Queue(), _Counter(), []
    policy = RetryThenDeadLetter(
        lambda: counter, max_attempts=3, on_dead_lettered=lambda e: marked.append(e.id)
    )
    pipeline = EventPipeline(
        dead_letters=queue, handler=handler_step(_failing_on("e1")), policy=policy
    )
    record = _record(1, _data("e1"))
    for attempt in (1, 2):
        with pytest.raises(EventProcessingError) as info:
            pipeline.process(record, _Output(), Counts())
        assert (info.value.attempt, info.value.max_attempts) == (attempt, 3)
        assert "event=e1" in str(info.value) and f"attempt={attempt}/3" in str(info.value)
    output, counts = _Output(), Counts()
    pipeline.process(record, output, counts)
    assert [p.reason for p in queue.sent] == ["handler_failed"]
    assert output.events == [] and [str(o.position) for o in output.skipped] == ["1"]
    assert counts == Counts(events=0, failed=1, dead_lettered=1)
    assert counter.dead == {"1"} and marked == ["e1"]
    # Its record again (a later event failed): skipped without calling the handler.
    again = _Output()
    pipeline.process(record, again, Counts())
    assert len(queue.sent) == 1 and counter.counts == {"1": 3}
    assert [str(o.position) for o in again.skipped] == ["1"]


def test_retry_policy_does_not_count_what_is_not_the_events_fault() -> None:
    counter = _Counter()
    outage = ConnectionError("store down")
    policy = RetryThenDeadLetter(
        lambda: counter, max_attempts=1, is_transient=lambda exc: exc is outage
    )

    def handle(_event: Event) -> None:
        raise outage

    pipeline = EventPipeline(dead_letters=_Queue(), handler=handler_step(handle), policy=policy)
    with pytest.raises(ConnectionError):
        pipeline.process(_record(1, _data("e1")), _Output(), Counts())
    assert counter.counts == {}


def test_an_event_dead_lettered_by_another_run_is_not_sent_again() -> None:
    queue, counter = _Queue(), _Counter(dead={"1"})
    policy = RetryThenDeadLetter(lambda: counter, max_attempts=3)
    pipeline = EventPipeline(
        dead_letters=queue, handler=handler_step(_failing_on("e1")), policy=policy
    )
    output = _Output()
    pipeline.process(_record(1, _data("e1")), output, Counts())
    assert queue.sent == [] and [str(o.position) for o in output.skipped] == ["1"]
    assert policy.dead_lettered_before(output.skipped[0])


def test_a_handler_step_saying_dead_lettered_skips_the_event_and_remembers_it() -> None:
    policy = RetryThenDeadLetter(_Counter, max_attempts=3)
    pipeline = EventPipeline(dead_letters=_Queue(), handler=lambda _e: None, policy=policy)
    output = _Output()
    pipeline.process(_record(1, _data("e1")), output, Counts())
    assert output.events == [] and policy.dead_lettered_before(output.skipped[0])


def test_items_decoded_by_the_caller_are_processed_instead_of_decoding_again() -> None:
    queue, output, counts = _Queue(), _Output(), Counts()
    record = _record(1, kpl.aggregate([("a", _data("e1")), ("b", b"not json")]))
    items = list(decode(record))
    seen: list[str] = []
    pipeline = EventPipeline(dead_letters=queue, handler=lambda e: seen.append(e.id) or e)
    pipeline.process(record, output, counts, items=items[1:])  # the caller's items only
    assert seen == []
    assert [p.reason for p in queue.sent] == ["invalid_envelope"]
    pipeline.process(record, output, counts, items=items[:1])
    assert seen == ["e1"]
    assert [e.id for e in output.events] == ["e1"]


def test_with_handler_keeps_the_dead_letter_queue_and_the_policy() -> None:
    queue, output, counts = _Queue(), _Output(), Counts()
    policy = DeadLetterAtOnce()
    shared = EventPipeline(dead_letters=queue, policy=policy)
    per_call = shared.with_handler(handler_step(_failing_on("e1")))
    assert per_call.handles and not shared.handles
    assert per_call.policy is policy
    per_call.process(_record(1, _data("e1")), output, counts)
    assert [p.reason for p in queue.sent] == ["handler_failed"]
    other = DeadLetterAtOnce()
    assert shared.with_handler(handler_step(_failing_on()), policy=other).policy is other
