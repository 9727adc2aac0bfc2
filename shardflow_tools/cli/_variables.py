"""Misspelt ``SHARDFLOW_*`` variables, reported instead of silently ignored.

``SHARDFLOW_PRODUCER_MAX_BUFER_TIME=0.05`` used to change nothing, without a word. Every
command now warns once per unknown variable, naming the closest known one.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import sys
from collections.abc import Iterable, Mapping

from shardflow import settings

_PREFIX = "SHARDFLOW_"


def known_variables() -> frozenset[str]:
    """Every ``SHARDFLOW_*`` variable shardflow reads (settings, and one per producer field)."""
    names = {
        value
        for value in vars(settings).values()
        if isinstance(value, str) and value.startswith(_PREFIX) and not value.endswith("_")
    }
    try:
        from producers import ProducerConfig  # noqa: PLC0415 - the producer may be absent
    except ImportError:
        pass
    else:
        names |= {
            settings.PRODUCER_ENV_PREFIX + f.name.upper()
            for f in dataclasses.fields(ProducerConfig)
        }
    return frozenset(names)


def unknown_variables(
    environ: Mapping[str, str], known: Iterable[str]
) -> list[tuple[str, str | None]]:
    """``(name, closest known name or None)`` for each unknown ``SHARDFLOW_*`` variable."""
    # Compared without the shared prefix, which would make every name look close.
    suffixes = {name.removeprefix(_PREFIX): name for name in known}
    out: list[tuple[str, str | None]] = []
    for name in sorted(environ):
        if name.startswith(_PREFIX) and name.removeprefix(_PREFIX) not in suffixes:
            close = difflib.get_close_matches(name.removeprefix(_PREFIX), suffixes, n=1)
            out.append((name, suffixes[close[0]] if close else None))
    return out


def warn_unknown_variables(environ: Mapping[str, str] | None = None) -> None:
    """Print one warning line on stderr per unknown ``SHARDFLOW_*`` variable."""
    env = os.environ if environ is None else environ
    for name, close in unknown_variables(env, known_variables()):
        hint = f"; did you mean {close}?" if close else ""
        print(f"shardflow: warning: {name} is not a shardflow variable{hint}", file=sys.stderr)  # noqa: T201


__all__ = ("known_variables", "unknown_variables", "warn_unknown_variables")
