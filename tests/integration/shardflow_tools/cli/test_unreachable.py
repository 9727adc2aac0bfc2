"""Issue 15.5: with the emulator not running, bootstrap and consume lambda gave 91-line
tracebacks; now one line naming the endpoint and what to do, exit 1."""

from __future__ import annotations

import pytest

from shardflow_tools.cli import main
from shardflow_tools.emulator import free_port


@pytest.mark.parametrize(
    "argv",
    [["bootstrap"], ["consume", "lambda", "--until-drained"], ["produce", "--stream", "s"]],
    ids=["bootstrap", "consume-lambda", "produce"],
)
def test_no_emulator_is_one_line_and_exit_1(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(""))
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"cannot reach {url}" in err
    assert "shardflow local" in err
