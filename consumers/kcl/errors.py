"""Exceptions of the KCL consumer (processor and launcher), in the consumers' tree."""

from __future__ import annotations

from consumers.errors import ConsumerError


class KclError(ConsumerError):
    """Base class of the KCL consumer's errors (a :class:`~consumers.errors.ConsumerError`,
    so a :class:`~shardflow.errors.ShardflowError` too)."""


class LaunchError(KclError):
    """The MultiLangDaemon cannot be started (no Java, no KCL jars, bad namespace setup)."""


class JavaNotFoundError(LaunchError):
    """No ``java`` executable on PATH or under ``JAVA_HOME``."""
