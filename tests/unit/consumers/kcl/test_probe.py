"""Issue 15.1: the launcher asks the endpoint for HTTP/2 (h2c) before Java starts."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from consumers.kcl.probe import EndpointProbeError, probe_h2c
from shardflow_tools.emulator import free_port

_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _serve_once(answer: bytes) -> Iterator[str]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def _answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(1024)
            conn.sendall(answer)

    thread = threading.Thread(target=_answer, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        thread.join()
        server.close()


@pytest.fixture
def http1_endpoint() -> Iterator[str]:
    yield from _serve_once(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


@pytest.fixture
def h2c_endpoint() -> Iterator[str]:
    yield from _serve_once(_SETTINGS)


def test_an_http1_only_endpoint_is_one_clear_error(http1_endpoint: str) -> None:
    with pytest.raises(EndpointProbeError) as info:
        probe_h2c(http1_endpoint)
    message = str(info.value)
    assert http1_endpoint in message
    assert "needs HTTP/2 (h2c)" in message
    assert "shardflow local" in message
    assert "\n" not in message


def test_no_endpoint_at_all_is_one_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(EndpointProbeError, match="nothing answers at " + url):
        probe_h2c(url)


def test_an_h2c_endpoint_passes(h2c_endpoint: str) -> None:
    probe_h2c(h2c_endpoint)


def test_https_endpoints_are_not_probed() -> None:
    # Nothing listens there: a probe would fail; TLS endpoints negotiate HTTP/2 themselves.
    probe_h2c(f"https://127.0.0.1:{free_port()}")
