"""Issue 15.9: a misspelt SHARDFLOW_* variable is reported with the closest known one."""

from __future__ import annotations

import pytest

from shardflow_tools.cli import main
from shardflow_tools.cli._variables import known_variables, unknown_variables


def test_known_variables_include_settings_and_every_producer_field() -> None:
    known = known_variables()
    assert {"SHARDFLOW_BUCKET", "SHARDFLOW_DLQ_URL", "SHARDFLOW_PRODUCER_MAX_BUFFER_TIME"} <= known


def test_unknown_variables_name_the_closest_known_one() -> None:
    env = {
        "SHARDFLOW_PRODUCER_MAX_BUFER_TIME": "1",
        "SHARDFLOW_BUCKET": "b",
        "SHARDFLOW_QWERTY": "x",
        "PATH": "/bin",
    }
    assert unknown_variables(env, known_variables()) == [
        ("SHARDFLOW_PRODUCER_MAX_BUFER_TIME", "SHARDFLOW_PRODUCER_MAX_BUFFER_TIME"),
        ("SHARDFLOW_QWERTY", None),
    ]


def test_every_command_warns(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHARDFLOW_BUKET", "x")
    assert main(["ddl"]) == 0
    assert (
        "shardflow: warning: SHARDFLOW_BUKET is not a shardflow variable; did you mean "
        "SHARDFLOW_BUCKET?"
    ) in capsys.readouterr().err
