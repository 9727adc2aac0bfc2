"""The test handler of the several-workers e2e test: notes what each processor receives,
and freezes one processor in the middle of a batch when the test asks.

The daemons' processors run it (``SHARDFLOW_KCL_HANDLER=kcl_fleet_probe:observe``, this
folder on ``PYTHONPATH``); it changes no event.

* Every event is noted as ``SHARD SEQ SUB ID`` in ``$SHARDFLOW_TEST_SEEN_DIR/<pid>.txt``.
  A processor serves one lease of one shard, so a file is one lease's session: an event
  in two sessions of a shard was replayed by the later one.
* With ``SHARDFLOW_TEST_FREEZE_DIR`` set: once ``<dir>/freeze`` exists, the next event
  makes this processor stop itself (SIGSTOP) before it buffers that event, after writing
  ``<dir>/frozen`` (JSON: pid, shard). Only one processor of the worker does (the first
  to claim ``<dir>/claimed``). When the test resumes it (SIGCONT), the processor is in
  the middle of ``process_records`` with its buffer: it buffers the rest of the batch and
  then flushes (the buffer is older than the sink's idle span), before the daemon can tell
  it that its lease is gone. That is the zombie flush a paused worker makes.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import IO, NamedTuple

from consumers import Event

SEEN_DIR = "SHARDFLOW_TEST_SEEN_DIR"
FREEZE_DIR = "SHARDFLOW_TEST_FREEZE_DIR"

_out: IO[str] | None = None
_freeze_checked = False


def observe(event: Event) -> None:
    """Note the event; freeze this process if the test asked and no processor did yet."""
    global _out  # noqa: PLW0603 - one file per processor process
    if _out is None:
        path = Path(os.environ[SEEN_DIR]) / f"{os.getpid()}.txt"
        _out = path.open("a", encoding="utf-8")
    origin = event.origin
    sub = "-" if origin.sub_sequence_number is None else origin.sub_sequence_number
    _out.write(f"{origin.shard_id} {origin.sequence_number} {sub} {event.id}\n")
    _out.flush()
    freeze_dir = os.environ.get(FREEZE_DIR)
    if freeze_dir:
        _maybe_freeze(Path(freeze_dir), origin.shard_id)


def _maybe_freeze(directory: Path, shard_id: str) -> None:
    global _freeze_checked  # noqa: PLW0603 - once per process
    if _freeze_checked or not (directory / "freeze").exists():
        return
    _freeze_checked = True
    try:
        (directory / "claimed").open("x").close()
    except FileExistsError:
        return  # another processor of this worker froze
    staged = directory / "frozen.tmp"
    staged.write_text(json.dumps({"pid": os.getpid(), "shard": shard_id}))
    staged.rename(directory / "frozen")  # the test reads it whole or not at all
    os.kill(os.getpid(), signal.SIGSTOP)


class Seen(NamedTuple):
    """One event as a processor received it."""

    shard: str
    sequence_number: int
    sub_sequence_number: int
    id: str


def sessions(directory: Path) -> dict[int, list[Seen]]:
    """What each processor (by pid) received so far, in order."""
    out: dict[int, list[Seen]] = {}
    for path in directory.glob("*.txt"):
        rows: list[Seen] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) != 4:
                continue  # a line being written
            shard, seq, sub, event_id = parts
            rows.append(Seen(shard, int(seq), -1 if sub == "-" else int(sub), event_id))
        out[int(path.stem)] = rows
    return out


def frozen(directory: Path) -> tuple[int, str] | None:
    """(pid, shard) of the processor that froze itself, or None yet."""
    path = directory / "frozen"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return int(data["pid"]), str(data["shard"])
