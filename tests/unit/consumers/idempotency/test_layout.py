"""The idempotency record layout: powertools' keys and items, and what a record means."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
)

from consumers.idempotency import (
    DEFAULT_MODE,
    BatchIdempotencyConfig,
    RecordLayout,
    RecordState,
    idempotency_key,
    mode_from_env,
)
from consumers.idempotency.layout import classify, completed_item, lock_item
from shardflow import settings
from shardflow.errors import ConfigError

NOW = 1_800_000_000.5
LAYOUT = RecordLayout()


@pytest.mark.parametrize("event_id", ["evt-1", "ünïcode-id", '"quoted"', "0" * 64])
def test_keys_are_powertools_keys(event_id: str) -> None:
    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    layer = DynamoDBPersistenceLayer(table_name="t", boto3_client=client)
    layer.configure(IdempotencyConfig(event_key_jmespath="id"), key_prefix="my-fn")
    theirs = layer._get_hashed_idempotency_key({"id": event_id})
    assert idempotency_key("my-fn", event_id) == theirs


def _record(
    status: str, *, expires_in: float, in_progress_in: float | None = None, data: str | None = None
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": {"S": "k"},
        "status": {"S": status},
        "expiration": {"N": str(int(NOW + expires_in))},
    }
    if in_progress_in is not None:
        item["in_progress_expiration"] = {"N": str(int((NOW + in_progress_in) * 1000))}
    if data is not None:
        item["data"] = {"S": data}
    return item


@pytest.mark.parametrize(
    ("item", "state"),
    [
        (None, RecordState.FREE),
        (_record("COMPLETED", expires_in=60, data="null"), RecordState.COMPLETED),
        (_record("COMPLETED", expires_in=-2, data="null"), RecordState.FREE),
        (
            _record("COMPLETED", expires_in=60, data='{"shardflow": "dead_lettered"}'),
            RecordState.DEAD_LETTERED,
        ),
        (
            _record("COMPLETED", expires_in=60, data='{"shardflow":"dead_lettered"}'),
            RecordState.DEAD_LETTERED,
        ),
        (_record("COMPLETED", expires_in=60, data='{"shardflow": 1}'), RecordState.COMPLETED),
        (_record("INPROGRESS", expires_in=60, in_progress_in=5), RecordState.HELD),
        (_record("INPROGRESS", expires_in=60, in_progress_in=-1), RecordState.FREE),
        (_record("INPROGRESS", expires_in=60), RecordState.HELD),  # no in-progress expiry
        (_record("INPROGRESS", expires_in=-2, in_progress_in=5), RecordState.FREE),
        (_record("SOMETHING", expires_in=60), RecordState.HELD),
    ],
)
def test_what_a_record_means(item: dict[str, Any] | None, state: RecordState) -> None:
    assert classify(item, NOW, LAYOUT) is state


def test_items_written_are_classified_as_what_they_record() -> None:
    lock = lock_item("k", now=NOW, ttl_seconds=60, in_progress_millis=1000, layout=LAYOUT)
    assert classify(lock, NOW, LAYOUT) is RecordState.HELD
    assert classify(lock, NOW + 1.5, LAYOUT) is RecordState.FREE
    done = completed_item("k", now=NOW, ttl_seconds=60, result=None, layout=LAYOUT)
    assert classify(done, NOW + 59, LAYOUT) is RecordState.COMPLETED
    assert classify(done, NOW + 61, LAYOUT) is RecordState.FREE
    assert lock["in_progress_expiration"] == {"N": str(int(NOW * 1000) + 1000)}


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("ttl_seconds", {"ttl_seconds": 0}),
        ("in_progress_expiry_seconds", {"in_progress_expiry_seconds": 0}),
        ("attempts", {"attempts": 0}),
        ("write_workers", {"write_workers": 0}),
        ("base_delay_seconds", {"base_delay_seconds": -1}),
        ("max_delay_seconds", {"base_delay_seconds": 1, "max_delay_seconds": 0.5}),
    ],
)
def test_config_names_the_bad_field(field: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=field):
        BatchIdempotencyConfig(**kwargs)


def test_backoff_grows_to_its_ceiling() -> None:
    config = BatchIdempotencyConfig(base_delay_seconds=0.1, max_delay_seconds=0.5)
    assert [config.delay(n, 0.999999) for n in (1, 2, 3, 4)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.5], rel=1e-3
    )
    assert config.delay(3, 0.0) == 0.0


def test_mode_from_env() -> None:
    assert mode_from_env({}) == DEFAULT_MODE == "batch"
    assert mode_from_env({settings.IDEMPOTENCY: "Event"}) == "event"
    assert mode_from_env({settings.IDEMPOTENCY: "batch"}) == "batch"
    with pytest.raises(ConfigError, match=settings.IDEMPOTENCY):
        mode_from_env({settings.IDEMPOTENCY: "sometimes"})
