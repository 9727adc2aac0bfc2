"""The KCL consumer: a Python record processor under the Java MultiLangDaemon.

* ``python -m consumers.kcl`` is the processor the daemon starts for each shard
  (:class:`KclRecordProcessor`, configured from the environment: :class:`ProcessorConfig`).
* ``shardflow consume kcl`` writes the daemon's properties (:class:`DaemonProperties`) and
  runs it (:func:`launch`, :class:`LaunchConfig`).

Names are imported on first use: the daemon-side modules need neither amazon_kclpy nor the
S3 sink, and the processor should not pay for the launcher.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DaemonProperties": "consumers.kcl.properties",
    "JavaNotFoundError": "consumers.kcl.errors",
    "KclError": "consumers.kcl.errors",
    "KclRecordProcessor": "consumers.kcl.processor",
    "LaunchConfig": "consumers.kcl.launcher",
    "LaunchError": "consumers.kcl.errors",
    "ProcessorConfig": "consumers.kcl.config",
    "ShardPipeline": "consumers.kcl.pipeline",
    "build_processor": "consumers.kcl.factory",
    "launch": "consumers.kcl.launcher",
}

__all__ = [
    "DaemonProperties",
    "JavaNotFoundError",
    "KclError",
    "KclRecordProcessor",
    "LaunchConfig",
    "LaunchError",
    "ProcessorConfig",
    "ShardPipeline",
    "build_processor",
    "launch",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'consumers.kcl' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
