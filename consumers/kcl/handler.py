"""The user handler hook: a function called with each decoded event before it is written.

``SHARDFLOW_KCL_HANDLER=package.module:function`` names it. The function receives an
:class:`~consumers.Event` and returns ``None`` (write the event as it is) or a mapping (write
that envelope instead, same origin). If it raises, the event is dead-lettered with reason
``handler_failed`` and the shard moves on; it must not print to stdout (stdout is the
protocol; the processor redirects stray prints to stderr anyway).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from consumers import Event
from shardflow.errors import ConfigError

Handler = Callable[[Event], Mapping[str, Any] | None]


def load_handler(spec: str) -> Handler:
    """Import ``package.module:function``; :class:`ConfigError` if it is not a callable."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError("handler", f"{spec!r} is not package.module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError("handler", f"cannot import {module_name!r}: {exc}") from exc
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ConfigError("handler", f"{module_name!r} has no attribute {attr!r}")
    if not callable(target):
        raise ConfigError("handler", f"{spec!r} is not callable")
    handler: Handler = target
    return handler
