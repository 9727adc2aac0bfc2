"""Powertools idempotency around the user's handler, keyed on the event ``id``.

Everything the Lambda consumer asks of idempotency goes through :class:`EventIdempotency`
(a small protocol: another store, say one batching its DynamoDB calls per invocation, plugs
in there) and :class:`IdempotentHandler`, the pipeline's handler step built on it.

A retried batch (a partial failure, a bisected or timed-out invocation, a replay after a
crash) delivers events that were processed already. The handler runs inside powertools'
``idempotent_function`` with the DynamoDB persistence layer: the first run of an ``id``
stores its result (None, or the envelope it returned, checked first: a result that cannot
be written raises, and is not stored), a later run of the same ``id`` returns it without
calling the handler again, so a replay writes the same envelope. A run that raised leaves
no record, so the event is tried again.

An event dead-lettered after its last failed attempt gets a completed record too, marked
as dead-lettered: if its KPL aggregate comes again (a later event of it failed), the
processing does not run for it, even where it would now succeed, since the dead-letter
queue holds it (an operator replaying it from there must be the only one to apply it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
)

from consumers.handler import Handler, replacement
from consumers.lambda_handler.clients import Clients
from consumers.records import Event
from shardflow import resources

#: The stored result of an event that was dead-lettered instead of processed.
DEAD_LETTERED: Final = {"shardflow": "dead_lettered"}


class EventIdempotency(Protocol):
    """What the Lambda consumer needs from an idempotency store, keyed on the event ``id``."""

    def register_context(self, context: Any) -> None:
        """Called at the start of each invocation with its Lambda context."""

    def run(self, event: Event) -> object:
        """The handler's result for ``event``: run now, or stored by an earlier run of the
        same ``id``; :data:`DEAD_LETTERED` when the event was dead-lettered instead."""

    def mark_dead_lettered(self, event: Event) -> None:
        """Record ``event.id`` as done by the dead-letter queue."""

    def is_store_error(self, exc: BaseException) -> bool:
        """True when ``exc`` is the store's failure, not the event's."""


class IdempotentHandler:
    """The pipeline's handler step under idempotency: the event to write (the handler's
    replacement, stored or fresh), or None when it was dead-lettered instead."""

    def __init__(self, idempotency: EventIdempotency) -> None:
        self._idempotency = idempotency

    def __call__(self, event: Event) -> Event | None:
        result = self._idempotency.run(event)
        if result is None:
            return event
        if result == DEAD_LETTERED:
            return None
        return replacement(event, result)


def checked(handler: Handler) -> Callable[[Event], dict[str, Any] | None]:
    """``handler`` with its result checked and stored as JSON (what :class:`Idempotency`
    runs): None, or the replacement envelope as parsed back from its encoding."""

    def run(event: Event) -> dict[str, Any] | None:
        result: Mapping[str, Any] | None = handler(event)
        return None if result is None else replacement(event, result).envelope

    return run


class _FixedExpiryContext:
    """Stands in for the Lambda context so an in-progress record expires after a set time."""

    def __init__(self, seconds: float) -> None:
        self._millis = int(seconds * 1000)

    def get_remaining_time_in_millis(self) -> int:
        return self._millis


class Idempotency:
    """Runs ``process(event)`` at most once per event ``id`` (per idempotency TTL): the
    powertools :class:`EventIdempotency`. ``process`` returns what is stored (JSON)."""

    def __init__(
        self,
        table: str,
        process: Callable[[Event], Any],
        *,
        clients: Clients,
        function_name: str,
        ttl_seconds: int,
        in_progress_expiry_seconds: float | None = None,
    ) -> None:
        self._process = process
        self._clients = clients
        self._table = table
        self._store: DynamoDBPersistenceLayer | None = None
        self._fixed_expiry = (
            _FixedExpiryContext(in_progress_expiry_seconds)
            if in_progress_expiry_seconds is not None
            else None
        )
        self.config = IdempotencyConfig(
            event_key_jmespath="id",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=ttl_seconds,
            lambda_context=self._fixed_expiry,  # type: ignore[arg-type]
        )
        self._function_name = function_name
        self._run: Callable[..., Any] | None = None

    def _runner(self) -> Callable[..., Any]:
        # Built on first use: the persistence layer needs the DynamoDB client.
        if self._run is None:
            self._store = DynamoDBPersistenceLayer(
                table_name=self._table,
                key_attr=resources.IDEMPOTENCY_KEY_ATTR,
                expiry_attr=resources.IDEMPOTENCY_TTL_ATTR,
                boto3_client=self._clients.dynamodb,
            )
            process = self._process

            def apply(key: dict[str, str], event: Event) -> object:  # noqa: ARG001 - hashed
                return process(event)

            self._run = idempotent_function(
                apply,
                data_keyword_argument="key",
                persistence_store=self._store,
                config=self.config,
                key_prefix=self._function_name,
            )
        return self._run

    def register_context(self, context: Any) -> None:
        """Use the invocation's remaining time as the in-progress expiry (unless fixed)."""
        if self._fixed_expiry is None and context is not None:
            self.config.register_lambda_context(context)

    def run(self, event: Event) -> object:
        """``process(event)``, unless ``event.id`` was processed already: then its stored
        result; :data:`DEAD_LETTERED` when the event was dead-lettered instead (see
        :meth:`mark_dead_lettered`)."""
        return self._runner()(key={"id": event.id}, event=event)

    def mark_dead_lettered(self, event: Event) -> None:
        """Record ``event.id`` as done, by the dead-letter queue: :meth:`run` then returns
        :data:`DEAD_LETTERED` for it without calling the handler."""
        self._runner()
        assert self._store is not None
        self._store.configure(self.config, key_prefix=self._function_name)
        self._store.save_success(data={"id": event.id}, result=DEAD_LETTERED)

    @staticmethod
    def is_store_error(exc: BaseException) -> bool:
        """True when the failure is the idempotency layer's, not the event's: another
        invocation holds the event's record, or the table could not be read or written."""
        return isinstance(
            exc,
            (
                IdempotencyAlreadyInProgressError,
                IdempotencyPersistenceLayerError,
                IdempotencyInconsistentStateError,
            ),
        )
