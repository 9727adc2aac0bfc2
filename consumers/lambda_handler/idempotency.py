"""Powertools idempotency around the processing function, keyed on the event ``id``.

A retried batch (a partial failure, a bisected or timed-out invocation, a replay after a
crash) delivers events that were processed already. The processing function runs inside
powertools' ``idempotent_function`` with the DynamoDB persistence layer: the first run of
an ``id`` stores its result, a later run of the same ``id`` returns it without calling the
function again. A run that raised leaves no record, so the event is tried again.

An event dead-lettered after its last failed attempt gets a completed record too, marked
as dead-lettered: if its KPL aggregate comes again (a later event of it failed), the
processing does not run for it, even where it would now succeed, since the dead-letter
queue holds it (an operator replaying it from there must be the only one to apply it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

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

from consumers.lambda_handler.clients import Clients
from consumers.records import Event
from shardflow import resources

#: The stored result of an event that was dead-lettered instead of processed.
_DEAD_LETTERED: Final = {"shardflow": "dead_lettered"}


class _FixedExpiryContext:
    """Stands in for the Lambda context so an in-progress record expires after a set time."""

    def __init__(self, seconds: float) -> None:
        self._millis = int(seconds * 1000)

    def get_remaining_time_in_millis(self) -> int:
        return self._millis


class Idempotency:
    """Runs ``process(event)`` at most once per event ``id`` (per idempotency TTL)."""

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

            def apply(key: dict[str, str], event: Event) -> None:  # noqa: ARG001 - hashed
                # The stored result is only "done": what process returns need not be JSON.
                process(event)

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

    def run(self, event: Event) -> bool:
        """``process(event)``, unless ``event.id`` was processed already; False when the
        event was dead-lettered instead (see :meth:`mark_dead_lettered`)."""
        result: object = self._runner()(key={"id": event.id}, event=event)
        return result != _DEAD_LETTERED

    def mark_dead_lettered(self, event: Event) -> None:
        """Record ``event.id`` as done, by the dead-letter queue: :meth:`run` then returns
        False for it without calling the processing function."""
        self._runner()
        assert self._store is not None
        self._store.configure(self.config, key_prefix=self._function_name)
        self._store.save_success(data={"id": event.id}, result=_DEAD_LETTERED)

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
