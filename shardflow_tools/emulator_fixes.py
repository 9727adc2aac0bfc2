"""Fixes for moto bugs the project's own use of the emulator runs into.

Each fix is applied in the emulator's process (the in-process server, ``python -m
shardflow_tools.emulator`` and the HTTP/2 server) before it serves, checks that the moto it
patches still has the bug, and changes nothing otherwise.

* **Deleting a version of a key whose latest version is a delete marker, with versioning
  suspended** (moto 5.2): ``_VersionedKeyStore.pop`` calls ``dispose()`` on every version,
  and ``FakeDeleteMarker`` has none, so S3 answers 500. The S3 sink deletes its staged
  objects (leaving delete markers in a versioned bucket), and ``terraform destroy`` first
  suspends versioning and then empties the bucket: the provider retried the 500 for ever.
  A delete marker holds no data, so disposing of it is a no-op.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def apply() -> None:
    """Apply every fix this moto needs (idempotent; nothing without moto)."""
    try:
        from moto.s3 import models  # noqa: PLC0415 - optional dependency
    except ImportError:
        return
    marker = getattr(models, "FakeDeleteMarker", None)
    if marker is not None and not hasattr(marker, "dispose"):

        def dispose(self: object, garbage: bool = False) -> None:
            """A delete marker holds no data: nothing to release."""

        marker.dispose = dispose
        logger.debug("moto fix: FakeDeleteMarker.dispose")


__all__ = ("apply",)
