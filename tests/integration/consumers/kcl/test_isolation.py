"""The daemon's network namespace: the emulator is reachable, nothing else is."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from consumers.kcl.isolation import HostBridge, namespace_command, unshare_prefix
from shardflow_tools.emulator_h2 import Http2EmulatorProcess

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare for a network namespace (CI runs as root)",
)

_PROBE = textwrap.dedent(
    """
    import socket, sys, urllib.request
    url = sys.argv[1]
    with urllib.request.urlopen(url + "/moto-api/", timeout=5) as resp:
        print("emulator", resp.status)
    try:
        socket.create_connection(("169.254.169.254", 80), timeout=3)
        print("metadata reachable")
    except OSError as exc:
        print("metadata unreachable", type(exc).__name__)
    print("interfaces", sorted(name for _, name in socket.if_nameindex()))
    """
)


def test_namespace_reaches_the_emulator_at_the_same_url_and_nothing_else(tmp_path: Path) -> None:
    prefix = unshare_prefix()
    assert prefix is not None
    with Http2EmulatorProcess() as emu:
        bridge = HostBridge(tmp_path, [emu.port])
        bridge.start()
        try:
            cmd = namespace_command(
                prefix, bridge.sockets, [sys.executable, "-c", _PROBE, emu.endpoint_url]
            )
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
        finally:
            bridge.stop()
    lines = out.stdout.splitlines()
    assert lines[0] == "emulator 200"
    assert lines[1].startswith("metadata unreachable")
    assert lines[2] == "interfaces ['lo']"


def test_namespace_forwards_the_exit_code(tmp_path: Path) -> None:
    prefix = unshare_prefix()
    assert prefix is not None
    cmd = namespace_command(prefix, {}, [sys.executable, "-c", "raise SystemExit(7)"])
    assert subprocess.run(cmd, timeout=60, check=False).returncode == 7
