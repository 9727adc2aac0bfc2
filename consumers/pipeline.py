"""The one consumer pipeline: decode, poison records to the dead-letter queue, the user's
handler, the shard writer. Both runtimes run their records through it: the KCL processor
(:mod:`consumers.kcl.pipeline`, into the shard's :class:`~consumers.sink.ShardWriter`) and
the Lambda handler (:mod:`consumers.lambda_handler.invocation`, into a per-record buffer
whose successful prefix is written with :meth:`~consumers.sink.ShardWriter.write_batch`),
and with it the local event source mapping runner, which calls the Lambda handler.

Every user record of a Kinesis record ends in exactly one place, in stream order: the
output (``add``: an event to write, the handler's replacement when it returned one) or the
dead-letter queue (then ``skip``, so the writer can checkpoint past it):

* a poison record (corrupt aggregate, invalid envelope) is dead-lettered at once: retrying
  cannot fix it;
* an event whose handler fails goes where the runtime's failure policy says
  (:mod:`consumers.failure_policy`): the dead-letter queue, or a retry (the policy raises,
  and the runtime does not move past the event);
* an event whose ``data`` does not fit the declared data schema (the ``data_schema``
  given: :mod:`consumers.data_schema`) is dead-lettered (``schema_mismatch``) before the
  output sees it, so no writer ever holds an event it cannot write whole (the Lambda
  handler writes at the end of the batch); checked on what is written (the handler's
  replacement when it returned one);
* everything else is written (the handler contract: :mod:`consumers.handler`).

What the pipeline does not decide: how hard to try the dead-letter queue (the
``dead_letters`` given; the KCL's retries and stops, the Lambda handler's fails the record),
and what a failing writer means (a :class:`~consumers.errors.SinkError` from ``add`` or
``skip`` propagates to the runtime).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Protocol

from consumers.data_schema import DataSchema
from consumers.decoding import decode
from consumers.errors import HandlerResultError
from consumers.failure_policy import DeadLetterAtOnce, FailurePolicy, Verdict
from consumers.handler import HandlerStep
from consumers.records import Event, KinesisRecord, Origin, PoisonRecord

#: What the checked ``add`` returns for an event it dead-lettered.
_MISMATCH: Final = object()


class Output(Protocol):
    """Where the pipeline puts a record's events: a :class:`~consumers.sink.ShardWriter`, or
    a buffer written later."""

    def add(self, event: Event) -> object:
        """Take an event to write."""

    def skip(self, origin: Origin) -> object:
        """Record that ``origin`` was consumed without output (dead-lettered)."""


class DeadLetters(Protocol):
    """What the pipeline needs from :class:`consumers.DeadLetterQueue`."""

    def send(self, poison: PoisonRecord) -> object:
        """Store the poison record durably or raise ``DeadLetterError``."""


@dataclass(slots=True)
class Counts:
    """What the pipeline did, for logs and metrics (one per shard or per invocation)."""

    #: Events given to the output.
    events: int = 0
    #: Handler failures (each attempt).
    failed: int = 0
    #: Poison records and failed events sent to the dead-letter queue.
    dead_lettered: int = 0


class EventPipeline:
    """Decode -> dead-letter poison -> handler -> output, with a failure policy.

    ``handler`` None writes every valid event as it is (and nothing can fail). Holds no
    per-call state (counts go to the ``counts`` given), so one pipeline may serve
    concurrent invocations.
    """

    __slots__ = ("_data_schema", "_dead_letters", "_handler", "_policy")

    def __init__(
        self,
        *,
        dead_letters: DeadLetters,
        handler: HandlerStep | None = None,
        policy: FailurePolicy | None = None,
        data_schema: DataSchema | None = None,
    ) -> None:
        self._dead_letters = dead_letters
        self._handler = handler
        self._policy: FailurePolicy = policy if policy is not None else DeadLetterAtOnce()
        self._data_schema = data_schema

    @property
    def data_schema(self) -> DataSchema | None:
        """The declared schema events' ``data`` must fit, or None."""
        return self._data_schema

    @property
    def handles(self) -> bool:
        """True when events go through a handler (not only to the output)."""
        return self._handler is not None

    @property
    def policy(self) -> FailurePolicy:
        """The failure policy."""
        return self._policy

    def with_handler(
        self, handler: HandlerStep, *, policy: FailurePolicy | None = None
    ) -> EventPipeline:
        """This pipeline (same dead-letter queue) with ``handler`` and, when given,
        ``policy``: for a handler step holding one call's state (the Lambda handler's
        batch idempotency, per invocation)."""
        return EventPipeline(
            dead_letters=self._dead_letters,
            handler=handler,
            policy=policy if policy is not None else self._policy,
            data_schema=self._data_schema,
        )

    def process(
        self,
        record: KinesisRecord,
        output: Output,
        counts: Counts,
        *,
        items: Iterable[Event | PoisonRecord] | None = None,
    ) -> None:
        """Every user record of ``record``, in order, to ``output`` or the dead-letter queue.

        ``items``: ``decode(record)`` when the caller decoded it already (to look its
        events up before processing them). Raises what the dead-letter queue, the output or
        the failure policy raise: the runtime must then not move past ``record``.
        """
        handler, policy = self._handler, self._policy
        skip = output.skip
        add: Callable[[Event], object] = output.add
        if self._data_schema is not None:
            add = self._checked(add, skip, counts)
        before = policy.dead_lettered_before
        for item in decode(record) if items is None else items:
            if isinstance(item, PoisonRecord):
                self._dead_letters.send(item)
                counts.dead_lettered += 1
                skip(item.origin)
                continue
            if handler is None:
                if add(item) is not _MISMATCH:
                    counts.events += 1
                continue
            if before(item.origin):
                skip(item.origin)  # its record is being retried
                continue
            try:
                event = handler(item)
            except Exception as exc:  # any failure of the user's code
                self._failed(item, exc, counts)
                skip(item.origin)
                continue
            if event is None:
                # In the dead-letter queue already (the handler step knows: an earlier
                # invocation's idempotency record); its record is retried for a later event.
                policy.dead_lettered(item, sent=False)
                skip(item.origin)
                continue
            if add(event) is not _MISMATCH:
                counts.events += 1

    def _checked(
        self, add: Callable[[Event], object], skip: Callable[[Origin], object], counts: Counts
    ) -> Callable[[Event], object]:
        # ``add`` with the declared schema's check in front: a mismatch goes to the
        # dead-letter queue (then ``skip``) and never reaches the output.
        schema = self._data_schema
        assert schema is not None
        mismatch, send = schema.mismatch, self._dead_letters.send

        def checked(event: Event) -> object:
            field = mismatch(event.envelope.get("data"), event.type)
            if field is None:
                return add(event)
            send(PoisonRecord.schema_mismatch(event, field))
            counts.dead_lettered += 1
            skip(event.origin)
            return _MISMATCH

        return checked

    def _failed(self, event: Event, exc: Exception, counts: Counts) -> None:
        counts.failed += 1
        policy = self._policy
        verdict = policy.failed(event, exc)  # raises to retry the event
        if verdict is Verdict.SKIP:
            policy.dead_lettered(event, sent=False)
            return
        why: str | Exception = exc.message if isinstance(exc, HandlerResultError) else exc
        self._dead_letters.send(PoisonRecord.handler_failed(event, why))
        policy.dead_lettered(event, sent=True)
        counts.dead_lettered += 1
