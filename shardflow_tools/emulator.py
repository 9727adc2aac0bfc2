"""The embedded AWS emulator: moto's server, on loopback, for machines without Docker.

Two ways to run it:

* :class:`EmbeddedEmulator` in this process (a thread), as the test fixture and the demo do;
  port 0 picks a free port.
* :class:`EmulatorProcess` as a child process (``python -m shardflow_tools.emulator``), which
  keeps the emulator's work off the caller's GIL: benchmarks and ``shardflow demo`` use it
  (``shardflow local`` serves in the foreground: :func:`serve`).

Both serve every service moto implements (Kinesis, DynamoDB, S3, SQS, IAM, …) on one
endpoint, like LocalStack on port 4566. moto is an optional dependency (extra ``local``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any, Self

from shardflow import settings
from shardflow.errors import ShardflowError
from shardflow_tools import emulator_fixes

logger = logging.getLogger(__name__)

_READY_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0
_MAX_PORT = 65535


class EmulatorError(ShardflowError):
    """The embedded emulator could not start (moto missing, port taken, no answer)."""


def _require_moto() -> Any:
    try:
        import moto.server  # noqa: PLC0415 - optional dependency, imported on use
    except ImportError as exc:
        raise EmulatorError(
            "the embedded emulator needs moto: pip install 'shardflow[local]'"
        ) from exc
    emulator_fixes.apply()
    return moto.server


def endpoint_url(host: str, port: int) -> str:
    """``http://host:port``, an IPv6 address in brackets."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def free_port(host: str = settings.LOCAL_HOST) -> int:
    """A TCP port nobody listens on right now (for tests that need a fixed port up front)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_until_ready(
    endpoint_url: str,
    timeout: float = _READY_TIMEOUT,
    *,
    exited: Callable[[], int | None] | None = None,
) -> None:
    """Block until ``endpoint_url`` answers HTTP, or raise :class:`EmulatorError`.

    ``exited`` (a child process's ``poll``) ends the wait early when the server died.
    """
    if urllib.parse.urlparse(endpoint_url).scheme not in ("http", "https"):
        raise EmulatorError(f"emulator endpoint {endpoint_url!r} is not an http(s) URL")
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if exited is not None and (code := exited()) is not None:
            raise EmulatorError(f"emulator for {endpoint_url} exited with {code} before answering")
        try:
            # moto answers its dashboard path without credentials. The scheme was checked
            # above: never file: or a custom one.
            with urllib.request.urlopen(f"{endpoint_url}/moto-api/", timeout=2):  # noqa: S310 # nosec B310
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer means the server is up
        except OSError as exc:
            last = exc
            time.sleep(0.05)
    raise EmulatorError(f"emulator at {endpoint_url} did not answer within {timeout}s: {last}")


class _Served:
    """``with`` support for anything with ``start()`` and ``stop()``."""

    def start(self) -> str:
        """Start serving; return the endpoint URL."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class EmbeddedEmulator(_Served):
    """moto server in a thread of this process.

    >>> with EmbeddedEmulator() as emu:          # doctest: +SKIP
    ...     client = shardflow.aws.client("kinesis", endpoint_url=emu.endpoint_url)
    """

    def __init__(self, host: str = settings.LOCAL_HOST, port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: Any = None

    @property
    def endpoint_url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._server is None:
            raise EmulatorError("emulator is not running")
        host, port = self._server.get_host_and_port()
        return endpoint_url(host, port)

    def start(self) -> str:
        """Start serving; return the endpoint URL."""
        server_mod = _require_moto()
        quiet_request_log()
        if self._port:
            # moto binds in its server thread and, if that fails, waits forever for it.
            _check_can_listen(self._host, self._port)
        try:
            self._server = server_mod.ThreadedMotoServer(
                ip_address=self._host, port=self._port, verbose=False
            )
            self._server.start()
        except OSError as exc:
            self._server = None
            raise EmulatorError(f"cannot listen on {self._host}:{self._port}: {exc}") from exc
        logger.info("embedded emulator listening on %s", self.endpoint_url)
        return self.endpoint_url

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.stop()
            self._server = None


class EmulatorProcess(_Served):
    """The emulator as a child process (``python -m MODULE --host H --port P``), which keeps
    its work off the caller's GIL; this class runs moto's own server
    (``python -m shardflow_tools.emulator``), subclasses other servers of the same emulator
    (:class:`shardflow_tools.emulator_h2.Http2EmulatorProcess`).

    ``start`` returns once the child answers HTTP, or raises :class:`EmulatorError` with the
    child's own error when it exited first (a port taken, a dependency missing).
    """

    #: The module the child runs.
    module = "shardflow_tools.emulator"

    def __init__(self, host: str = settings.LOCAL_HOST, port: int | None = None) -> None:
        self._host = host
        self._port = port or free_port(host)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        """``http://host:port`` of the child's server."""
        return endpoint_url(self._host, self._port)

    @property
    def port(self) -> int:
        """The TCP port the child listens on."""
        return self._port

    def check_dependencies(self) -> None:
        """Raise :class:`EmulatorError` here, naming the extra, when the child could not run."""
        _require_moto()

    def arguments(self) -> list[str]:
        """Command-line arguments of the child after ``--host`` and ``--port``."""
        return []

    def start(self) -> str:
        """Start the child and wait until it answers; return the endpoint URL."""
        self.check_dependencies()
        argv = [sys.executable, "-m", self.module, "--host", self._host, "--port", str(self._port)]
        self._proc = subprocess.Popen(
            [*argv, *self.arguments()],
            stdout=subprocess.DEVNULL,
            # Errors (a port taken, ...) are kept to be reported below.
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
        logger.info("%s (pid %d) on %s", self.module, self._proc.pid, self.endpoint_url)
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


def _drain(stream: IO[bytes]) -> None:
    with contextlib.suppress(OSError, ValueError):
        while stream.read(65536):
            pass


def _check_can_listen(host: str, port: int) -> None:
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            # As werkzeug binds: a port in TIME_WAIT is free, one someone listens on is not.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError as exc:
        raise EmulatorError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} (another emulator or "
            "LocalStack on that port? pass another --port)"
        ) from exc


def quiet_request_log() -> None:
    """Keep werkzeug from logging every request (it sets itself to INFO when unset): its
    level follows the root logger's, so ``--log-level INFO`` still shows requests."""
    werkzeug = logging.getLogger("werkzeug")
    if werkzeug.level == logging.NOTSET:
        werkzeug.setLevel(logging.getLogger().getEffectiveLevel())


#: Called with the endpoint URL once the server listens (``shardflow local`` prints it then).
OnReady = Callable[[str], object]


def check_port(port: int) -> int:
    """``port`` when it is a TCP port number (0 = any free port), else :class:`EmulatorError`."""
    if not 0 <= port <= _MAX_PORT:
        raise EmulatorError(f"port must be 0-{_MAX_PORT} (0 picks a free one), got {port}")
    return port


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening (port 0: a free port).

    Servers that take a socket (hypercorn's ``fd://``) serve on it, so the caller knows the
    port, and that it listens, before announcing the endpoint.
    """
    check_port(port)
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError as exc:
        raise EmulatorError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(socket.SOMAXCONN)
    except OSError as exc:
        sock.close()
        raise EmulatorError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} (another emulator or "
            "LocalStack on that port? pass another --port)"
        ) from exc
    return sock


def serve(
    host: str = settings.LOCAL_HOST,
    port: int = settings.LOCAL_PORT,
    *,
    on_ready: OnReady | None = None,
) -> None:
    """Serve in the foreground until SIGINT or SIGTERM; then stop cleanly.

    ``on_ready`` gets the endpoint URL (with the port picked for port 0) once it listens.
    """
    check_port(port)
    emulator = EmbeddedEmulator(host, port)
    emulator.start()
    if on_ready is not None:
        on_ready(emulator.endpoint_url)
    stopping = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping:
            time.sleep(0.2)
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def server_main(
    module: str,
    serve_args: Callable[[Any], None],
    argv: list[str] | None = None,
    *,
    add_arguments: Callable[[Any], None] | None = None,
) -> int:
    """``python -m MODULE [--host H] [--port P] ...``: parse the options (``add_arguments``
    adds more), log at ``SHARDFLOW_LOG_LEVEL`` and run ``serve_args(args)`` until stopped;
    an :class:`EmulatorError` is one line on stderr and exit status 1."""
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog=f"python -m {module}")
    parser.add_argument("--host", default=settings.LOCAL_HOST)
    parser.add_argument("--port", type=int, default=settings.LOCAL_PORT)
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get(settings.LOG_LEVEL, "WARNING"))
    try:
        serve_args(args)
    except EmulatorError as exc:
        print(f"{module}: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m shardflow_tools.emulator [--host H] [--port P]``."""
    return server_main("shardflow_tools.emulator", lambda a: serve(a.host, a.port), argv)


if __name__ == "__main__":
    raise SystemExit(main())
