"""docs/walkthrough.md runs as written: emulator, bootstrap, produce, both consumers, dlq,
query (issue 15's "done when"). The ```bash blocks are run, in order, in one bash shell.

Port 4566 is the walk-through's; the test runs it in a loopback-only network namespace of
its own (root and ``unshare``), where nothing else listens. The KCL block runs where Java
and the KCL jars are there too; without them it is left out and the rest still runs.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

WALKTHROUGH = Path(__file__).resolve().parents[2] / "docs" / "walkthrough.md"

pytestmark = pytest.mark.slow


def _blocks() -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", WALKTHROUGH.read_text(), flags=re.M | re.S)


def _kcl_can_run() -> bool:
    try:
        from consumers.kcl.launcher import find_java, kcl_jars_dir

        find_java()
        kcl_jars_dir()
    except Exception:  # any missing piece means: leave the KCL block out
        return False
    return True


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _command(script: Path) -> list[str]:
    bash = ["bash", "-euo", "pipefail", str(script)]
    unshare = shutil.which("unshare")
    if os.geteuid() == 0 and unshare and shutil.which("ip"):
        return [unshare, "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *bash]
    if _port_free(4566):
        return bash
    pytest.skip("port 4566 is taken and no network namespace can be made for the walk-through")


def test_the_walkthrough_runs_as_written(tmp_path: Path) -> None:
    blocks = _blocks()
    assert len(blocks) >= 7, "the walk-through shows its commands in ```bash blocks"
    kcl = _kcl_can_run() and os.geteuid() == 0
    chosen = [b for b in blocks if kcl or "consume kcl" not in b]
    script = tmp_path / "walkthrough.sh"
    # Whatever a failing command leaves running (the detached emulator, a consumer in the
    # background) is stopped when the script ends, so a failure leaks no process.
    cleanup = (
        "trap 'jobs -p | xargs -r kill 2>/dev/null; "
        '[ -n "${EMULATOR_PID:-}" ] && kill "$EMULATOR_PID" 2>/dev/null; true\' EXIT\n'
    )
    script.write_text(cleanup + "\n".join(chosen))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHARDFLOW_", "AWS_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        _command(script),
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    # The Lambda consumer's summary counted the bad event and warned.
    assert "warning: 1 events were dead-lettered" in done.stderr
    # dlq list: the bad event, with its reason.
    assert "invalid_envelope" in done.stdout
    rows = re.findall(r"^(order\.\w+)\s*\|\s*(\d+)$", done.stdout, flags=re.M)
    assert rows == [("order.created", "2"), ("order.paid", "1")]
    counts = re.findall(r"^(\d+)$", done.stdout, flags=re.M)
    # dlq count after the Lambda consumer, and after the KCL consumer dead-lettered it too.
    assert counts[:1] == ["1"]
    if kcl:
        assert counts[-1] == "2"
        # Issue 15.10: each processor log line once, not again as a daemon ERROR.
        processor_lines = [line for line in done.stderr.splitlines() if " consumers.kcl." in line]
        assert processor_lines
        assert len(processor_lines) == len(set(processor_lines))
        assert "Received error line from subprocess" not in done.stderr
