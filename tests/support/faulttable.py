"""The fault table (issue 12): one row per case the fault suite ran, printed at the end of
the session. Rows come from ``tests/faults`` and from the e2e test whose zombie worker is
the table's KCL zombie row (``tests/e2e/test_kcl_workers.py``), hence its place here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest


@dataclass
class Row:
    """One line of the fault table."""

    case: str
    runtime: str
    acknowledged: int
    in_s3: int
    duplicates: int
    dead_lettered: int
    lost: int
    recover_seconds: float
    injected: dict[str, int] = field(default_factory=dict)


#: Every case's row, printed as a table at the end of the session (conftest).
RESULTS: list[Row] = []


def write_table(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the fault table of the rows recorded so far (nothing when there are none)."""
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
