"""This folder is put on ``sys.path``: the tests import :mod:`kcl_harness` from it (and the
resharding test's daemon imports its handler, :mod:`kcl_reshard_probe`, from it through
``PYTHONPATH``)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
