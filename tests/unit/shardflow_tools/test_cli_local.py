"""``shardflow local``: which server it runs with which options (nothing is served here)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from shardflow_tools import cli, emulator_h2
from shardflow_tools.emulator import endpoint_url


def test_aws_resharding_needs_http2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["local", "--aws-resharding", "--port", "1"]) == 2
    assert "--aws-resharding needs --http2" in capsys.readouterr().err


def test_aws_resharding_reaches_the_http2_server(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    def serve_http2(host: str, port: int, *, aws_resharding: bool = False) -> None:
        calls.append((host, port, aws_resharding))

    monkeypatch.setattr(emulator_h2, "serve_http2", serve_http2)
    assert cli.main(["local", "--http2", "--aws-resharding", "--port", "4599"]) == 0
    assert calls == [("127.0.0.1", 4599, True)]


def test_a_taken_port_is_an_error_not_a_hang(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["local", "--port", str(port)]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_endpoint_urls_bracket_ipv6_hosts() -> None:
    assert endpoint_url("127.0.0.1", 4566) == "http://127.0.0.1:4566"
    assert endpoint_url("::1", 4566) == "http://[::1]:4566"
