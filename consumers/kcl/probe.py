"""Does the endpoint speak HTTP/2? Asked once, before the daemon starts.

The KCL's Kinesis client (AWS SDK for Java v2 on Netty) talks HTTP/2 to a plain ``http://``
endpoint with prior knowledge (h2c). Against a server that speaks only HTTP/1.1 (moto's own
server, ``shardflow local --http1-only``) or against nothing at all, the daemon does not
fail: it retries forever and logs ``Http2Exception: First received frame was not
SETTINGS`` or connection errors, thousands of lines a minute. So the launcher sends the
HTTP/2 connection preface itself and reads the first frame: a SETTINGS frame means h2c;
anything else is one clear error before Java starts.

``https://`` endpoints (AWS, LocalStack with TLS) negotiate HTTP/2 through TLS (ALPN) and
are not probed.
"""

from __future__ import annotations

import socket
from typing import Final
from urllib.parse import urlparse

from consumers.kcl.errors import LaunchError

#: The client connection preface (RFC 9113 section 3.4) and an empty SETTINGS frame.
_PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_EMPTY_SETTINGS: Final = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_FRAME_HEADER: Final = 9
_SETTINGS_TYPE: Final = 0x04
#: Seconds to connect and to get the first frame: a local server answers in milliseconds.
DEFAULT_TIMEOUT: Final = 5.0
_HINT: Final = (
    "run `shardflow local` (it serves HTTP/1.1 and HTTP/2 on one port) or LocalStack, and "
    "point --endpoint-url or AWS_ENDPOINT_URL at it"
)


class EndpointProbeError(LaunchError):
    """The endpoint cannot serve the KCL: nothing listens, or it does not speak h2c."""


def _read_frame_header(sock: socket.socket) -> bytes:
    data = b""
    while len(data) < _FRAME_HEADER:
        chunk = sock.recv(_FRAME_HEADER - len(data))
        if not chunk:
            break
        data += chunk
    return data


def probe_h2c(endpoint_url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Return when ``endpoint_url`` answers an h2c connection preface with SETTINGS.

    Raises :class:`EndpointProbeError` naming the endpoint, what it did and what to do.
    Endpoints other than ``http://`` return at once.
    """
    parsed = urlparse(endpoint_url)
    if parsed.scheme != "http" or not parsed.hostname:
        return
    port = parsed.port or 80
    try:
        sock = socket.create_connection((parsed.hostname, port), timeout=timeout)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise EndpointProbeError(f"nothing answers at {endpoint_url} ({reason}): {_HINT}") from exc
    with sock:
        try:
            sock.sendall(_PREFACE + _EMPTY_SETTINGS)
            header = _read_frame_header(sock)
        except TimeoutError as exc:
            raise EndpointProbeError(
                f"{endpoint_url} did not answer an HTTP/2 request within {timeout:g} s; the "
                f"KCL's Kinesis client needs HTTP/2 (h2c): {_HINT}"
            ) from exc
        except OSError as exc:
            header = b""
            if not isinstance(exc, ConnectionResetError):
                raise EndpointProbeError(f"probing {endpoint_url} failed: {exc}: {_HINT}") from exc
    if len(header) == _FRAME_HEADER and header[3] == _SETTINGS_TYPE:
        return
    what = "answers HTTP/1.x, not HTTP/2" if header else "closed an HTTP/2 connection unanswered"
    raise EndpointProbeError(
        f"{endpoint_url} {what}, and the KCL's Kinesis client needs HTTP/2 (h2c): {_HINT}"
    )


__all__ = ("DEFAULT_TIMEOUT", "EndpointProbeError", "probe_h2c")
