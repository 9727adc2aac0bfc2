"""Old import paths of modules that moved: the old name is the new module, not a copy.

Local and build tooling moved from ``shardflow`` (and ``consumers.lambda_esm``) to
``shardflow_tools``; code written against the old paths keeps working. An alias imports the
new module by name when the old path is first imported, registers it (and each of its
submodules) under the old name in :data:`sys.modules`, so ``isinstance`` and monkeypatching
see one module. Runtime code never imports an alias; the Lambda zip leaves them out.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from types import ModuleType


def alias(old: str, new: str) -> ModuleType:
    """Make the module named ``old`` be the module ``new`` (and ``old.x`` be ``new.x``)."""
    module = importlib.import_module(new)
    sys.modules[old] = module
    path = getattr(module, "__path__", None)
    if path is not None:
        for info in pkgutil.walk_packages(path, f"{new}."):
            if info.name.rsplit(".", 1)[-1] == "__main__":
                continue  # running it is what `python -m old` does, not importing it
            sys.modules[old + info.name[len(new) :]] = importlib.import_module(info.name)
    return module
