"""Issue 15.1: `consume kcl` against an HTTP/1.1-only endpoint, or none, fails at once.

It used to start the daemon, which repeated ``Http2Exception: First received frame was not
SETTINGS`` (1,817 stderr lines in 90 s) and never exited.
"""

from __future__ import annotations

import pytest

from shardflow_tools.cli import main
from shardflow_tools.emulator import free_port


def _consume(endpoint: str) -> int:
    return main(
        ["consume", "kcl", "--endpoint-url", endpoint, "--stream", "s", "--isolation", "none"]
    )


def test_an_http1_only_endpoint_is_one_line_and_exit_1(
    aws_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The session's emulator is moto's own server: HTTP/1.1 only.
    assert _consume(aws_endpoint) == 1
    said, failed = capsys.readouterr().err.strip().splitlines()
    assert said == f"shardflow consume kcl: endpoint {aws_endpoint}, region us-east-1"
    assert failed.startswith(f"shardflow consume kcl: {aws_endpoint}")
    assert "needs HTTP/2 (h2c)" in failed


def test_no_endpoint_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert _consume(url) == 1
    said, failed = capsys.readouterr().err.strip().splitlines()
    assert said.startswith(f"shardflow consume kcl: endpoint {url}")
    assert f"nothing answers at {url}" in failed
