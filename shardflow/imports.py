"""Callables named by a string, as Lambda names its handler (``module.function``)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from shardflow.errors import ConfigError


def load_callable(spec: str, *, field: str = "handler") -> Callable[..., Any]:
    """The callable ``spec`` names: ``package.module.function`` or ``package.module:function``
    (after a colon, a dotted path inside the module: ``package.module:Class.method``).

    Raises :class:`~shardflow.errors.ConfigError` (naming ``field``) when the module cannot
    be imported or has no such callable.
    """
    module_name, sep, attr = spec.partition(":") if ":" in spec else spec.rpartition(".")
    if not sep or not module_name or not attr:
        raise ConfigError(field, f"{spec!r} is not module.function or module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(field, f"cannot import {module_name!r} for {spec!r}: {exc}") from exc
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
    if not callable(target):
        raise ConfigError(field, f"{module_name!r} has no callable {attr!r}")
    return target  # type: ignore[no-any-return]
