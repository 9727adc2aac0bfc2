"""The user handler hook of the KCL processor: the consumers' one handler contract.

``SHARDFLOW_KCL_HANDLER=package.module:function`` names it. The function receives an
:class:`~consumers.Event` and returns ``None`` (write the event as it is) or a mapping (write
that envelope instead, same origin); see :mod:`consumers.handler`. If it raises (or returns
what cannot be written), the event is dead-lettered with reason ``handler_failed`` and the
shard moves on (the KCL's failure policy:
:class:`~consumers.failure_policy.DeadLetterAtOnce`). It must not print to stdout (stdout is
the protocol; the processor redirects stray prints to stderr anyway).
"""

from __future__ import annotations

from consumers import handler as _contract
from consumers.handler import Handler
from shardflow import settings

__all__ = ["Handler", "load_handler"]


def load_handler(spec: str) -> Handler:
    """Import ``package.module:function``; :class:`~shardflow.errors.ConfigError` naming
    ``SHARDFLOW_KCL_HANDLER`` if it is not a callable."""
    return _contract.load_handler(spec, field=settings.KCL_HANDLER)
