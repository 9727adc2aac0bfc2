"""The embedded emulator served over HTTP/2 (and HTTP/1.1) by hypercorn.

The KCL's Kinesis client (AWS SDK for Java v2, Netty) speaks HTTP/2 and cannot use moto's
own werkzeug server, which only speaks HTTP/1.1. hypercorn serves moto's WSGI application
on one port for both: HTTP/2 with prior knowledge (h2c) for the KCL, HTTP/1.1 for boto3.

* :class:`Http2EmulatorProcess` runs it as a child process
  (``python -m shardflow.emulator_h2``), as the KCL end-to-end tests do;
* ``shardflow local --http2`` serves it in the foreground for a local KCL consumer.

With ``aws_resharding`` (``--aws-resharding``) the process first installs the test-harness
shim of :mod:`shardflow.emulator_resharding`, so split and merge behave as on AWS (closed
shards end, with ``ChildShards``); the KCL resharding test needs it.

moto and hypercorn are optional dependencies (extra ``local``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from types import TracebackType
from typing import IO, Any

from shardflow import settings
from shardflow.emulator import EmulatorError, free_port, wait_until_ready

logger = logging.getLogger(__name__)

#: S3 part uploads go through the WSGI bridge as one body; hypercorn's default is 16 MiB.
_MAX_BODY = 128 * 1024 * 1024
_STOP_TIMEOUT = 10.0


def _drain(stream: IO[bytes]) -> None:
    with contextlib.suppress(OSError, ValueError):
        while stream.read(65536):
            pass


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
    return DomainDispatcherApplication(create_backend_app)


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
) -> None:
    """Serve moto over HTTP/2 + HTTP/1.1 in the foreground until SIGINT or SIGTERM.

    ``aws_resharding`` installs :func:`shardflow.emulator_resharding.install` first (it
    raises :class:`~shardflow.emulator_resharding.ReshardingShimError` if moto changed).
    """
    serve, config_cls = _hypercorn()
    if aws_resharding:
        from shardflow import emulator_resharding  # noqa: PLC0415 - moto is optional

        emulator_resharding.install()
    app = wsgi_app()
    config = config_cls()
    config.bind = [f"{host}:{port}"]
    config.wsgi_max_body_size = _MAX_BODY
    config.accesslog = None
    # hypercorn logs every request at INFO; keep the emulator quiet unless asked.
    config.errorlog = logging.getLogger("hypercorn.error")

    async def _main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(app, config, shutdown_trigger=stop.wait, mode="wsgi")

    try:
        asyncio.run(_main())
    except OSError as exc:
        raise EmulatorError(f"cannot listen on {host}:{port}: {exc}") from exc


class Http2EmulatorProcess:
    """The HTTP/2 emulator as a child process (``python -m shardflow.emulator_h2``).

    >>> with Http2EmulatorProcess() as emu:      # doctest: +SKIP
    ...     os.environ["AWS_ENDPOINT_URL"] = emu.endpoint_url
    """

    def __init__(
        self,
        host: str = settings.LOCAL_HOST,
        port: int | None = None,
        *,
        aws_resharding: bool = False,
    ) -> None:
        self._host = host
        self._port = port or free_port(host)
        self._aws_resharding = aws_resharding
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        """``http://host:port`` of the child's server."""
        return f"http://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        """The TCP port the child listens on."""
        return self._port

    def start(self) -> str:
        """Start the child and wait until it answers; return the endpoint URL."""
        wsgi_app()
        _hypercorn()
        argv = [sys.executable, "-m", "shardflow.emulator_h2", "--host", self._host]
        argv += ["--port", str(self._port)]
        if self._aws_resharding:
            argv.append("--aws-resharding")
        self._proc = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            # Errors (a shim that refuses to install) are kept to be reported below.
            stderr=None if logger.isEnabledFor(logging.DEBUG) else subprocess.PIPE,
        )
        try:
            wait_until_ready(self.endpoint_url, exited=self._proc.poll)
        except EmulatorError as exc:
            detail = self._child_stderr()
            self.stop()
            raise EmulatorError(f"{exc}{detail}") from exc
        if self._proc.stderr is not None:
            # Nobody reads it from here on: a full pipe would block the server.
            threading.Thread(target=_drain, args=(self._proc.stderr,), daemon=True).start()
        logger.info("HTTP/2 emulator (pid %d) on %s", self._proc.pid, self.endpoint_url)
        return self.endpoint_url

    def _child_stderr(self) -> str:
        if self._proc is None or self._proc.stderr is None or self._proc.poll() is None:
            return ""
        text = self._proc.stderr.read().decode(errors="replace").strip()
        return f"; the emulator exited with {self._proc.returncode}: {text}" if text else ""

    def stop(self) -> None:
        """Terminate the child (SIGTERM, then SIGKILL after 10 s)."""
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self._proc.terminate()
        try:
            self._proc.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def __enter__(self) -> Http2EmulatorProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m shardflow.emulator_h2 [--host H] [--port P]``."""
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m shardflow.emulator_h2")
    parser.add_argument("--host", default=settings.LOCAL_HOST)
    parser.add_argument("--port", type=int, default=settings.LOCAL_PORT)
    parser.add_argument(
        "--aws-resharding",
        action="store_true",
        help="test harness: patch moto so split/merge behave as on AWS "
        "(shardflow.emulator_resharding)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("SHARDFLOW_LOG_LEVEL", "WARNING"))
    try:
        serve_http2(args.host, args.port, aws_resharding=args.aws_resharding)
    except EmulatorError as exc:
        print(f"shardflow.emulator_h2: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
