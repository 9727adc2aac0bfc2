"""The user handler hook: a function called with each decoded event before it is written.

``SHARDFLOW_KCL_HANDLER=package.module:function`` names it. The function receives an
:class:`~consumers.Event` and returns ``None`` (write the event as it is) or a mapping (write
that envelope instead, same origin). If it raises, the event is dead-lettered with reason
``handler_failed`` and the shard moves on; it must not print to stdout (stdout is the
protocol; the processor redirects stray prints to stderr anyway).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from consumers import Event
from shardflow import settings
from shardflow.imports import load_callable

Handler = Callable[[Event], Mapping[str, Any] | None]


def load_handler(spec: str) -> Handler:
    """Import ``package.module:function``; :class:`~shardflow.errors.ConfigError` naming
    ``SHARDFLOW_KCL_HANDLER`` if it is not a callable."""
    handler: Handler = load_callable(spec, field=settings.KCL_HANDLER)
    return handler
