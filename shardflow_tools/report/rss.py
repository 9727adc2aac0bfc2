"""Resident memory (RSS) of a process and of its descendants, from ``/proc`` (Linux)."""

from __future__ import annotations

import os
from pathlib import Path

_PROC = Path("/proc")


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process visible now."""
    out: dict[int, int] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it exited while we looked
        # The command name (field 2) is in parentheses and may hold spaces.
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(entry.name)] = int(fields[1])
    return out


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def rss_bytes(pid: int) -> int:
    """The resident set size of one process in bytes (0 if it is gone)."""
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def tree_rss_bytes(pid: int | None = None) -> int:
    """RSS of ``pid`` (default: this process) and its descendants, summed."""
    return sum(rss_bytes(p) for p in descendants(os.getpid() if pid is None else pid))
