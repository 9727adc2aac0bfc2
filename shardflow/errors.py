"""The root of every exception shardflow raises.

Each package (``producers``, ``consumers``) derives its own tree from
:class:`ShardflowError`, so an application can catch everything from the library with
one ``except`` and still tell the cases apart.
"""

from __future__ import annotations


class ShardflowError(Exception):
    """Base class of all shardflow errors."""


class ConfigError(ShardflowError, ValueError):
    """A setting is out of range or of the wrong kind; the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class WireFormatError(ShardflowError, ValueError):
    """Bytes that claim to be a KPL aggregate (or an envelope) but cannot be decoded."""


class InvalidEnvelopeError(ShardflowError, ValueError):
    """An event is not a valid envelope: not JSON, not an object, or a field missing."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
