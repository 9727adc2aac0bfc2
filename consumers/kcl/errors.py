"""Exceptions of the KCL consumer (processor and launcher)."""

from __future__ import annotations

from shardflow.errors import ShardflowError


class KclError(ShardflowError):
    """Base class of the KCL consumer's errors."""


class LaunchError(KclError):
    """The MultiLangDaemon cannot be started (no Java, no KCL jars, bad namespace setup)."""


class JavaNotFoundError(LaunchError):
    """No ``java`` executable on PATH or under ``JAVA_HOME``."""
