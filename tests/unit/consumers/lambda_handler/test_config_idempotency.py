"""``SHARDFLOW_IDEMPOTENCY`` in the handler's configuration: batch by default, event on
request, anything else a configuration error naming the variable or the field."""

from __future__ import annotations

import pytest

from consumers.lambda_handler import HandlerConfig
from shardflow import settings
from shardflow.errors import ConfigError


def test_batch_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.IDEMPOTENCY, raising=False)
    assert HandlerConfig.from_env().idempotency_mode == "batch"
    assert HandlerConfig().idempotency_mode == "batch"


@pytest.mark.parametrize(("value", "mode"), [("event", "event"), (" Batch ", "batch")])
def test_the_environment_picks_the_mode(
    monkeypatch: pytest.MonkeyPatch, value: str, mode: str
) -> None:
    monkeypatch.setenv(settings.IDEMPOTENCY, value)
    assert HandlerConfig.from_env().idempotency_mode == mode


def test_an_unknown_mode_names_the_variable_or_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.IDEMPOTENCY, "per-batch")
    with pytest.raises(ConfigError, match=settings.IDEMPOTENCY):
        HandlerConfig.from_env()
    with pytest.raises(ConfigError, match="idempotency_mode"):
        HandlerConfig(idempotency_mode="per-batch")  # type: ignore[arg-type]
