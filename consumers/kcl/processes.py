"""The daemon's processor children, counted from ``/proc`` (Linux).

After a stop signal the launcher waits for the daemon to shut every processor down (flush,
then checkpoint). Once none is left there is nothing more to save, so it need not wait out
the rest of the daemon's grace period: that is what this count tells it.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

_PROC = Path("/proc")


def _parent_of(stat: str) -> int:
    # The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    return int(stat.rsplit(")", 1)[1].split()[1])


def _children(proc: Path) -> dict[int, list[int]]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = _parent_of((entry / "stat").read_text())
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile, or not readable
        children[parent].append(int(entry.name))
    return children


def count_descendants(pid: int, marker: str, *, proc: Path = _PROC) -> int | None:
    """How many processes below ``pid`` have ``marker`` in their command line.

    None when the system has no ``/proc`` to tell.
    """
    if not (proc / "self").exists():
        return None
    children = _children(proc)
    found = 0
    pending = list(children.get(pid, ()))
    while pending:
        child = pending.pop()
        pending.extend(children.get(child, ()))
        try:
            cmdline = (proc / str(child) / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if marker.encode() in cmdline:
            found += 1
    return found


__all__ = ("count_descendants",)
