"""``python -m bench [NAME ...]``: run the named benchmarks, or all of them.

Each benchmark is a module ``bench/NAME.py`` with a ``main() -> None`` that prints its
lines, ratios against its baselines measured side by side in the same run.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def available() -> list[str]:
    """Benchmark names: the modules beside this file."""
    return sorted(p.stem for p in Path(__file__).parent.glob("*.py") if not p.stem.startswith("_"))


#: Names that are not module names (``lambda`` is a Python keyword).
_ALIASES = {"lambda": "lambda_runner"}


def main(argv: list[str]) -> int:
    names = [_ALIASES.get(n, n) for n in argv] or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {available()}", file=sys.stderr)
        return 2
    for name in names:
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
