"""The fault suite: every case is marked ``faults`` (and ``integration``); the session ends
with the fault table (case, runtime, events acknowledged, in S3, duplicates, dead-lettered,
lost, time to recover)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from faultproxy import FaultPlan, FaultProxy
from harness import RESULTS, FaultPipeline, make_pipeline

from shardflow_tools.bootstrap import BootstrapReport


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    head = (
        "case",
        "runtime",
        "acknowledged",
        "in S3",
        "duplicates",
        "dead-lettered",
        "lost",
        "recover s",
    )
    rows = [
        (
            r.case,
            r.runtime,
            str(r.acknowledged),
            str(r.in_s3),
            str(r.duplicates),
            str(r.dead_lettered),
            str(r.lost),
            f"{r.recover_seconds:.1f}",
        )
        for r in RESULTS
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    write = terminalreporter.write_line
    write("")
    write("fault table (every acknowledged event in S3 exactly once or dead-lettered)")
    for line in (head, *rows):
        write(
            "  ".join(
                x.ljust(w) if i < 2 else x.rjust(w)
                for i, (x, w) in enumerate(zip(line, widths, strict=True))
            )
        )
    for r in RESULTS:
        if r.injected:
            faults = ", ".join(f"{k} {v}" for k, v in sorted(r.injected.items()))
            write(f"  injected in {r.case} ({r.runtime}): {faults}")


@pytest.fixture
def proxy(aws_endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(aws_endpoint, FaultPlan()) as running:
        yield running


@pytest.fixture
def fault_pipeline(
    proxy: FaultProxy,
    aws_endpoint: str,
    provision: Callable[..., BootstrapReport],
    unique_name: Callable[[str], str],
) -> FaultPipeline:
    return make_pipeline(proxy, aws_endpoint, provision, unique_name)
