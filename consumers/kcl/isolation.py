"""Run the daemon in a loopback-only network namespace that still reaches a local emulator.

KCL 3 probes the EC2 instance metadata address (169.254.169.254) for worker metrics even
with ``AWS_EC2_METADATA_DISABLED=true``. Against a local emulator nothing should leave the
machine, so the launcher runs the daemon (and the processors it starts) in a new network
namespace that has only a loopback interface: every off-machine address is unreachable.

The emulator listens on the host's loopback, which a new namespace does not share. Unix
sockets are not tied to a network namespace, so two small byte pumps connect the two:

    daemon --TCP 127.0.0.1:P--> [pump in the namespace] --unix socket--> [pump in the
    launcher, host namespace] --TCP 127.0.0.1:P--> emulator

The endpoint URL stays the same on both sides. The namespace side is this module run as
the namespace's first process (``unshare --net -- python -m consumers.kcl.isolation
--forward P=SOCKET -- CMD…``): it brings ``lo`` up, starts the pumps, runs CMD, forwards
SIGTERM/SIGINT/SIGHUP to it and exits with its exit code. :class:`HostBridge` is the host
side. Only the standard library is used: the namespace side starts before anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import fcntl
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Final

logger = logging.getLogger(__name__)

_BUF: Final = 256 * 1024
_PR_SET_PDEATHSIG: Final = 1
_SIOCGIFFLAGS: Final = 0x8913
_SIOCSIFFLAGS: Final = 0x8914
_IFF_UP: Final = 0x1
_IFREQ: Final = "16sh22x"  # struct ifreq: name[16], short flags, padding to 40 bytes
_PROBE_TIMEOUT: Final = 10.0


def unshare_prefix() -> list[str] | None:
    """The command prefix that enters a new network namespace, or None if impossible.

    As root: ``unshare --net``. Otherwise ``unshare --map-root-user --net`` when the kernel
    allows unprivileged user namespaces (checked by running it once).
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    candidates = [[unshare, "--net"]] if os.geteuid() == 0 else []
    candidates.append([unshare, "--map-root-user", "--net"])
    for prefix in candidates:
        try:
            probe = subprocess.run(
                [*prefix, "--", "true"],
                capture_output=True,
                timeout=_PROBE_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return prefix
    return None


def namespace_command(
    prefix: Sequence[str], forwards: dict[int, Path], command: Sequence[str]
) -> list[str]:
    """``command`` wrapped to run in a new namespace with ``forwards`` (port -> socket)."""
    argv = [*prefix, "--", sys.executable, "-m", "consumers.kcl.isolation"]
    for port, path in sorted(forwards.items()):
        argv += ["--forward", f"{port}={path}"]
    return [*argv, "--", *command]


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(_BUF):
            writer.write(data)
            await writer.drain()


async def _splice(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    upstream_reader: asyncio.StreamReader,
    upstream_writer: asyncio.StreamWriter,
) -> None:
    # HTTP clients do not half-close: when either side ends, the connection is over.
    pumps = [
        asyncio.create_task(_pump(client_reader, upstream_writer)),
        asyncio.create_task(_pump(upstream_reader, client_writer)),
    ]
    try:
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        pass  # the bridge is shutting down
    finally:
        for pump in pumps:
            pump.cancel()
        for writer in (client_writer, upstream_writer):
            writer.close()


async def _cancel_connections() -> None:
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class HostBridge:
    """Host side: unix sockets in ``directory`` forwarded to TCP ports on the host's loopback.

    Runs its own event loop in a daemon thread, so the launcher's main thread stays free to
    supervise the daemon.
    """

    def __init__(self, directory: Path, ports: Sequence[int], host: str = "127.0.0.1") -> None:
        self._host = host
        self.sockets: dict[int, Path] = {port: directory / f"port-{port}.sock" for port in ports}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._servers: list[asyncio.AbstractServer] = []

    async def _serve(self, path: Path, port: int) -> asyncio.AbstractServer:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_connection(self._host, port)
            except OSError as exc:
                logger.warning("bridge: cannot reach %s:%d: %s", self._host, port, exc)
                writer.close()
                return
            await _splice(reader, writer, up_reader, up_writer)

        return await asyncio.start_unix_server(handle, path=str(path))

    def start(self) -> None:
        """Listen on every unix socket (returns once they accept connections)."""
        self._thread.start()
        for port, path in self.sockets.items():
            future = asyncio.run_coroutine_threadsafe(self._serve(path, port), self._loop)
            self._servers.append(future.result(timeout=10))

    def stop(self) -> None:
        """Close the sockets and stop the loop."""

        async def _close() -> None:
            for server in self._servers:
                server.close()
            await _cancel_connections()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(_close(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        for path in self.sockets.values():
            path.unlink(missing_ok=True)


def loopback_up() -> None:
    """Bring the namespace's ``lo`` up (what ``ip link set lo up`` does), without iproute2."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack(_IFREQ, b"lo", 0)
        flags = struct.unpack(_IFREQ, fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | _IFF_UP))


def _die_with_parent(sig: int) -> None:
    # Linux only: if the launcher is killed outright (SIGKILL), this process learns it.
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)


async def _run_in_namespace(forwards: dict[int, Path], command: Sequence[str]) -> int:
    async def serve(port: int, path: Path) -> asyncio.AbstractServer:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_unix_connection(str(path))
            except OSError as exc:
                print(f"isolation: bridge {path} unavailable: {exc}", file=sys.stderr)  # noqa: T201
                writer.close()
                return
            await _splice(reader, writer, up_reader, up_writer)

        return await asyncio.start_server(handle, "127.0.0.1", port)

    servers = [await serve(port, path) for port, path in forwards.items()]
    proc = await asyncio.create_subprocess_exec(
        *command,
        # If this process is SIGKILLed the daemon must not outlive it (no bridge left).
        preexec_fn=lambda: _die_with_parent(signal.SIGKILL),
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, proc.send_signal, sig)
    code = await proc.wait()
    for server in servers:
        server.close()
    await _cancel_connections()
    return code if code >= 0 else 128 - code


def main(argv: Sequence[str] | None = None) -> int:
    """Namespace side: ``python -m consumers.kcl.isolation --forward P=SOCK … -- CMD …``."""
    parser = argparse.ArgumentParser(prog="python -m consumers.kcl.isolation")
    parser.add_argument("--forward", action="append", default=[], metavar="PORT=SOCKET")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("a command to run is required after --")
    forwards: dict[int, Path] = {}
    for spec in args.forward:
        port, _, path = spec.partition("=")
        forwards[int(port)] = Path(path)
    _die_with_parent(signal.SIGTERM)
    loopback_up()
    return asyncio.run(_run_in_namespace(forwards, command))


if __name__ == "__main__":
    raise SystemExit(main())
