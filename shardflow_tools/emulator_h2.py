"""The embedded emulator served over HTTP/2 (and HTTP/1.1) by hypercorn.

The KCL's Kinesis client (AWS SDK for Java v2, Netty) speaks HTTP/2 and cannot use moto's
own werkzeug server, which only speaks HTTP/1.1. hypercorn serves moto's WSGI application
on one port for both: HTTP/2 with prior knowledge (h2c) for the KCL, HTTP/1.1 for boto3.

* :class:`Http2EmulatorProcess` runs it as a child process
  (``python -m shardflow_tools.emulator_h2``), as the KCL end-to-end tests do;
* ``shardflow local --http2`` serves it in the foreground for a local KCL consumer.

With ``aws_resharding`` (``--aws-resharding``) the process first installs the test-harness
shim of :mod:`shardflow_tools.emulator_resharding`, so split and merge behave as on AWS (closed
shards end, with ``ChildShards``); the KCL resharding test needs it.

moto and hypercorn are optional dependencies (extra ``local``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterator
from typing import Any

from shardflow import settings
from shardflow_tools import emulator_fixes
from shardflow_tools.emulator import (
    EmulatorError,
    EmulatorProcess,
    OnReady,
    endpoint_url,
    listening_socket,
    server_main,
)

logger = logging.getLogger(__name__)

#: S3 part uploads go through the WSGI bridge as one body; hypercorn's default is 16 MiB.
_MAX_BODY = 128 * 1024 * 1024


def wsgi_app() -> Any:
    """moto's WSGI application dispatching every service by request (as moto_server does)."""
    try:
        from moto.moto_server.werkzeug_app import (  # noqa: PLC0415 - optional dependency
            DomainDispatcherApplication,
            create_backend_app,
        )
    except ImportError as exc:
        raise EmulatorError(
            "the embedded emulator needs moto: pip install 'shardflow[local]'"
        ) from exc
    emulator_fixes.apply()
    return _never_empty(DomainDispatcherApplication(create_backend_app))


def _never_empty(app: Any) -> Any:
    """``app`` with every response body at least one (possibly empty) chunk long.

    hypercorn's WSGI bridge (0.18) sends the status line with the first body chunk, so a
    response without any (every HEAD: S3 HeadBucket, HeadObject) reached the client as a
    500 "Unexpected message type".
    """

    def wrapped(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        body = app(environ, start_response)
        try:
            empty = True
            for chunk in body:
                empty = False
                yield chunk
            if empty:
                yield b""
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    return wrapped


def _hypercorn() -> tuple[Any, Any]:
    try:
        from hypercorn.asyncio import serve  # noqa: PLC0415 - optional dependency
        from hypercorn.config import Config  # noqa: PLC0415
    except ImportError as exc:
        raise EmulatorError(
            "serving the emulator over HTTP/2 needs hypercorn: pip install 'shardflow[local]'"
        ) from exc
    return serve, Config


def serve_http2(
    host: str = settings.LOCAL_HOST,
    port: int = settings.LOCAL_PORT,
    *,
    aws_resharding: bool = False,
    on_ready: OnReady | None = None,
) -> None:
    """Serve moto over HTTP/2 + HTTP/1.1 in the foreground until SIGINT or SIGTERM.

    ``aws_resharding`` installs :func:`shardflow_tools.emulator_resharding.install` first (it
    raises :class:`~shardflow_tools.emulator_resharding.ReshardingShimError` if moto changed).
    ``on_ready`` gets the endpoint URL (with the port picked for port 0) once the socket
    listens: connections made from then on wait in its backlog until hypercorn accepts them.
    """
    serve, config_cls = _hypercorn()
    if aws_resharding:
        from shardflow_tools import emulator_resharding  # noqa: PLC0415 - moto is optional

        emulator_resharding.install()
    app = wsgi_app()
    sock = listening_socket(host, port)
    bound_port = int(sock.getsockname()[1])
    config = config_cls()
    # hypercorn serves (and closes) a socket it is given by descriptor; binding it here
    # tells the port (port 0) and that it listens before anything is announced.
    config.bind = [f"fd://{sock.detach()}"]
    config.wsgi_max_body_size = _MAX_BODY
    config.accesslog = None
    # hypercorn logs every request at INFO; keep the emulator quiet unless asked.
    config.errorlog = logging.getLogger("hypercorn.error")

    async def _main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if on_ready is not None:
            on_ready(endpoint_url(host, bound_port))
        await serve(app, config, shutdown_trigger=stop.wait, mode="wsgi")

    try:
        asyncio.run(_main())
    except OSError as exc:
        raise EmulatorError(f"cannot serve on {host}:{bound_port}: {exc}") from exc


class Http2EmulatorProcess(EmulatorProcess):
    """The HTTP/2 emulator as a child process (``python -m shardflow_tools.emulator_h2``).

    >>> with Http2EmulatorProcess() as emu:      # doctest: +SKIP
    ...     kinesis = shardflow.aws.client("kinesis", endpoint_url=emu.endpoint_url)
    """

    module = "shardflow_tools.emulator_h2"

    def __init__(
        self,
        host: str = settings.LOCAL_HOST,
        port: int | None = None,
        *,
        aws_resharding: bool = False,
    ) -> None:
        super().__init__(host, port)
        self._aws_resharding = aws_resharding

    def check_dependencies(self) -> None:
        """moto and hypercorn must be importable."""
        wsgi_app()
        _hypercorn()

    def arguments(self) -> list[str]:
        """``--aws-resharding`` when asked for."""
        return ["--aws-resharding"] if self._aws_resharding else []


def _add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--aws-resharding",
        action="store_true",
        help="test harness: patch moto so split/merge behave as on AWS "
        "(shardflow_tools.emulator_resharding)",
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m shardflow_tools.emulator_h2 [--host H] [--port P] [--aws-resharding]``."""
    return server_main(
        "shardflow_tools.emulator_h2",
        lambda a: serve_http2(a.host, a.port, aws_resharding=a.aws_resharding),
        argv,
        add_arguments=_add_arguments,
    )


if __name__ == "__main__":
    raise SystemExit(main())
