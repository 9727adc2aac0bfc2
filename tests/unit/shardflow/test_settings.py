"""Typed environment variables: malformed values name the variable."""

from __future__ import annotations

import pytest

from shardflow import settings
from shardflow.errors import ConfigError


def test_typed_values_parse_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_TEST_INT", "42")
    monkeypatch.setenv("SF_TEST_FLOAT", "0.5")
    monkeypatch.setenv("SF_TEST_BOOL", "Yes")
    monkeypatch.setenv("SF_TEST_EMPTY", "")
    assert settings.env_int("SF_TEST_INT", 1) == 42
    assert settings.env_float("SF_TEST_FLOAT", 1.0) == 0.5
    assert settings.env_bool("SF_TEST_BOOL", False) is True
    assert settings.env_int("SF_TEST_EMPTY", 7) == 7
    assert settings.env_bool("SF_TEST_UNSET", True) is True


@pytest.mark.parametrize(
    ("parse", "value"),
    [(settings.env_int, "ten"), (settings.env_float, "fast"), (settings.env_bool, "maybe")],
)
def test_malformed_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, parse: object, value: str
) -> None:
    monkeypatch.setenv("SHARDFLOW_SOMETHING", value)
    with pytest.raises(ConfigError, match="SHARDFLOW_SOMETHING") as info:
        parse("SHARDFLOW_SOMETHING", 0)  # type: ignore[operator]
    assert info.value.field == "SHARDFLOW_SOMETHING"
    assert value in str(info.value)
