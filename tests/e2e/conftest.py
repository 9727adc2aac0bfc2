"""This folder is put on ``sys.path``: the tests import :mod:`kcl_harness` and
:mod:`kcl_fleet` from it (and the daemon's processors import the test handlers,
:mod:`kcl_seen_probe`, :mod:`kcl_reshard_probe` and :mod:`kcl_fleet_probe`, from it through
``PYTHONPATH``).

The e2e tests run the real KCL daemon, which needs root (a network namespace), Java and
``unshare``. Where one is missing they are skipped, and the session's summary says so in a
banner; under CI (``CI`` set, as ``.ci/run`` runs) they fail instead: CI is root and
installs Java, so a skip there would hide that the KCL consumer went untested.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from kcl_harness import CANNOT_RUN  # noqa: E402 - needs the path above

_skipped: list[bool] = []


@pytest.fixture(scope="session", autouse=True)
def _kcl_daemon_can_run() -> None:
    """Skip (fail under CI) every e2e test when the daemon cannot run here."""
    if CANNOT_RUN is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"KCL e2e tests cannot run under CI: {CANNOT_RUN}", pytrace=False)
    _skipped.append(True)
    pytest.skip(f"KCL e2e tests NOT RUN: {CANNOT_RUN}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped:
        terminalreporter.section("KCL end-to-end tests NOT RUN", sep="!", red=True, bold=True)
        terminalreporter.line(
            f"The real-daemon tests in tests/e2e were skipped: {CANNOT_RUN}.", red=True
        )
        terminalreporter.line("Run `make test` as root with Java 17 to run them (CI does).")
