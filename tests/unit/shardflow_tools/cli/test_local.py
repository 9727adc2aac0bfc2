"""``shardflow local``: which server it runs with which options (nothing is served here)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from shardflow_tools import cli, emulator_h2
from shardflow_tools.cli import local
from shardflow_tools.emulator import endpoint_url


def test_aws_resharding_needs_http2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["local", "--aws-resharding", "--http1-only", "--port", "1"]) == 2
    assert "--aws-resharding needs --http2" in capsys.readouterr().err


def test_aws_resharding_reaches_the_http2_server(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    def serve_http2(host: str, port: int, *, aws_resharding: bool = False, **_: Any) -> None:
        calls.append((host, port, aws_resharding))

    monkeypatch.setattr(emulator_h2, "serve_http2", serve_http2)
    assert cli.main(["local", "--http2", "--aws-resharding", "--port", "4599"]) == 0
    assert cli.main(["local", "--aws-resharding", "--port", "4599"]) == 0
    assert calls == [("127.0.0.1", 4599, True)] * 2


def test_http2_and_http1_on_one_port_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15.1: the README starts `shardflow local` without --http2; the KCL needs h2c."""
    served: list[str] = []
    monkeypatch.setattr(emulator_h2, "serve_http2", lambda *_a, **_k: served.append("h2"))
    monkeypatch.setattr(local, "serve", lambda *_a, **_k: served.append("http1"))
    assert cli.main(["local", "--port", "4599"]) == 0
    assert cli.main(["local", "--http1-only", "--port", "4599"]) == 0
    assert served == ["h2", "http1"]


@pytest.mark.parametrize("port", ["99999", "-5", "65536", "http"])
def test_out_of_range_ports_are_refused_as_usage_errors(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 15.6: --port 99999 printed a port it did not listen on; -5 a resolver message."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["local", f"--port={port}"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --port" in err
    assert "export AWS_ENDPOINT_URL" not in err


def test_a_taken_port_is_an_error_not_a_hang(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["local", "--port", str(port)]) == 1
        assert cli.main(["local", "--http1-only", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err
    # Issue 15.6: the endpoint is announced only once it listens.
    assert "export AWS_ENDPOINT_URL" not in err


def test_endpoint_urls_bracket_ipv6_hosts() -> None:
    assert endpoint_url("127.0.0.1", 4566) == "http://127.0.0.1:4566"
    assert endpoint_url("::1", 4566) == "http://[::1]:4566"
