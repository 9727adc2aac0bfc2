"""The idempotency table's item layout: powertools' ``DynamoDBPersistenceLayer``, exactly.

Pure code (no I/O). An event's record is keyed ``<key_prefix>#<md5 hex of
json.dumps(event_id)>``, which is what powertools' ``idempotent_function`` writes for
``data={"id": event_id}`` with ``event_key_jmespath="id"`` and ``key_prefix=<function name>``
(:mod:`consumers.lambda_handler.idempotency` today). Attributes:

* ``id`` (S): that key; ``expiration`` (N, Unix seconds): the record's end of life (also the
  table's TTL attribute); ``status`` (S): ``INPROGRESS`` or ``COMPLETED``;
* ``in_progress_expiration`` (N, Unix *milliseconds*): until when an ``INPROGRESS`` record
  blocks other executions; ``data`` (S): the JSON of the stored result (``null``, or
  :data:`DEAD_LETTERED_RESULT`); ``validation`` (S): powertools' payload hash, never
  written here (payload validation is off), never required when read.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from shardflow import resources

INPROGRESS: Final = "INPROGRESS"
COMPLETED: Final = "COMPLETED"

#: The stored result of an event dead-lettered instead of processed (the marker
#: :mod:`consumers.lambda_handler.idempotency` writes through powertools).
DEAD_LETTERED_RESULT: Final = {"shardflow": "dead_lettered"}
#: :data:`DEAD_LETTERED_RESULT` as stored in ``data`` (powertools: ``json.dumps(sort_keys)``).
DEAD_LETTERED_DATA: Final = json.dumps(DEAD_LETTERED_RESULT, sort_keys=True)

Item = dict[str, dict[str, str]]


@dataclass(frozen=True, slots=True)
class RecordLayout:
    """Attribute names of an idempotency record (powertools' defaults)."""

    key_attr: str = resources.IDEMPOTENCY_KEY_ATTR
    expiry_attr: str = resources.IDEMPOTENCY_TTL_ATTR
    in_progress_expiry_attr: str = "in_progress_expiration"
    status_attr: str = "status"
    data_attr: str = "data"
    validation_attr: str = "validation"


class RecordState(enum.Enum):
    """What an existing record (or its absence) means for an execution that wants the id."""

    #: No live record: the id may be locked (absent, expired, or a crashed holder's lock).
    FREE = "free"
    #: Processed, the record alive: skip.
    COMPLETED = "completed"
    #: Dead-lettered, the record alive: skip (the dead-letter queue holds the event).
    DEAD_LETTERED = "dead_lettered"
    #: Locked by another execution whose in-progress expiry has not passed: retry later.
    HELD = "held"


def idempotency_key(key_prefix: str, event_id: str) -> str:
    """The record key powertools computes for ``data={"id": event_id}`` (md5, jmespath ``id``)."""
    digest = hashlib.md5(json.dumps(event_id, sort_keys=True).encode(), usedforsecurity=False)
    return f"{key_prefix}#{digest.hexdigest()}"


def now_values(now: float) -> tuple[int, int]:
    """``(seconds, milliseconds)`` as powertools compares them (truncated to integers)."""
    return int(now), int(now * 1000)


def classify(item: Mapping[str, Any] | None, now: float, layout: RecordLayout) -> RecordState:
    """The state of ``item`` (a DynamoDB item, None when absent) at Unix time ``now``.

    The same tests as the lock's condition (:func:`lock_condition`): a record is free when
    absent, past ``expiration``, or ``INPROGRESS`` past its ``in_progress_expiration``. A
    record with an unknown status counts as held: never process what the table does not
    clearly allow.
    """
    if item is None:
        return RecordState.FREE
    seconds, millis = now_values(now)
    expiry = item.get(layout.expiry_attr, {}).get("N")
    if expiry is not None and int(expiry) < seconds:
        return RecordState.FREE
    status = item.get(layout.status_attr, {}).get("S")
    if status == COMPLETED:
        data = item.get(layout.data_attr, {}).get("S")
        dead = data is not None and _is_dead_lettered(data)
        return RecordState.DEAD_LETTERED if dead else RecordState.COMPLETED
    in_progress = item.get(layout.in_progress_expiry_attr, {}).get("N")
    if status == INPROGRESS and in_progress is not None and int(in_progress) < millis:
        return RecordState.FREE
    return RecordState.HELD


def stored_result(item: Mapping[str, Any] | None, data_attr: str) -> object:
    """The result a ``COMPLETED`` record stores (``data`` parsed; None when absent or not
    JSON), as powertools returns it on an idempotency hit."""
    data = (item or {}).get(data_attr, {}).get("S")
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def _is_dead_lettered(data: str) -> bool:
    if data == DEAD_LETTERED_DATA:
        return True
    try:
        return bool(json.loads(data) == DEAD_LETTERED_RESULT)
    except ValueError:
        return False


def lock_item(
    key: str, *, now: float, ttl_seconds: int, in_progress_millis: int, layout: RecordLayout
) -> Item:
    """An ``INPROGRESS`` record, as powertools' ``save_inprogress`` puts it."""
    seconds, millis = now_values(now)
    return {
        layout.key_attr: {"S": key},
        layout.expiry_attr: {"N": str(seconds + ttl_seconds)},
        layout.status_attr: {"S": INPROGRESS},
        layout.in_progress_expiry_attr: {"N": str(millis + in_progress_millis)},
    }


def completed_item(
    key: str, *, now: float, ttl_seconds: int, result: object, layout: RecordLayout
) -> Item:
    """A ``COMPLETED`` record holding ``result`` as JSON, as powertools' ``save_success``
    leaves it (minus the lock's stale ``in_progress_expiration``, which a completed record
    never consults)."""
    return {
        layout.key_attr: {"S": key},
        layout.expiry_attr: {"N": str(int(now) + ttl_seconds)},
        layout.status_attr: {"S": COMPLETED},
        layout.data_attr: {"S": json.dumps(result, sort_keys=True, default=str)},
    }


def lock_condition(now: float, layout: RecordLayout) -> dict[str, Any]:
    """The condition of a lock (powertools' ``_put_record``): no record, an expired record,
    or an ``INPROGRESS`` record past its in-progress expiry; as keyword arguments of a
    ``Put``."""
    seconds, millis = now_values(now)
    return {
        "ConditionExpression": (
            "attribute_not_exists(#id) OR #expiry < :now OR "
            "(#status = :inprogress AND attribute_exists(#in_progress_expiry) "
            "AND #in_progress_expiry < :now_in_millis)"
        ),
        "ExpressionAttributeNames": {
            "#id": layout.key_attr,
            "#expiry": layout.expiry_attr,
            "#in_progress_expiry": layout.in_progress_expiry_attr,
            "#status": layout.status_attr,
        },
        "ExpressionAttributeValues": {
            ":now": {"N": str(seconds)},
            ":now_in_millis": {"N": str(millis)},
            ":inprogress": {"S": INPROGRESS},
        },
    }
