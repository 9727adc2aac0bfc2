"""An in-memory object store for the S3 sink, for tests and benchmarks.

:class:`InMemoryObjectStore` is an :class:`~consumers.sink.store.ObjectStore` that answers the
way S3 does, conditional writes included (``if_none_match`` on an existing key, ``if_match``
on another version: :class:`~consumers.sink.store.PreconditionFailedError`; a 409
:class:`~consumers.sink.store.ConditionalConflictError` on demand). Tests control what happens
around every request::

    store = InMemoryObjectStore()
    sink = S3Sink("bucket", stream="events", store=store)

    # a request that fails, lands but answers an error, or during which another writer runs:
    store.before = lambda op, key: ...   # raise to fail (or crash) before the request
    store.after = lambda op, key: ...    # raise to fail after it landed
    store.conflicts = 1                  # the next conditional PUT answers 409

    store.visible()                      # what Athena reads: {key: body}

Requests are counted by operation in :attr:`InMemoryObjectStore.requests`.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable, Sequence

from consumers.sink.store import ConditionalConflictError, PreconditionFailedError, StoredObject

__all__ = ["Hook", "InMemoryObjectStore", "is_visible"]

#: Called with the operation (``PutObject``, ``GetObject``, ...) and the key (the source key
#: for ``CopyObject``, the first key for ``DeleteObjects``, the prefix for ``ListObjectsV2``).
Hook = Callable[[str, str], None]


def is_visible(key: str, prefix: str = "") -> bool:
    """True when Athena reads ``key`` as part of a table at ``prefix``: under the prefix and
    no path segment after it starts with ``_`` or ``.``."""
    if prefix and not key.startswith(prefix.rstrip("/") + "/"):
        return False
    rest = key[len(prefix.rstrip("/")) + 1 :] if prefix else key
    return not any(part.startswith(("_", ".")) for part in rest.split("/"))


class InMemoryObjectStore:
    """A bucket in memory with S3's conditional writes; see the module docstring.

    Each request is atomic (one lock), so two writers in two threads race the way two
    clients of S3 do. ``location`` names it in messages.
    """

    def __init__(self, location: str = "memory://bucket") -> None:
        self._location = location
        self.objects: dict[str, StoredObject] = {}
        self.before: Hook | None = None
        self.after: Hook | None = None
        self.conflicts = 0
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def location(self) -> str:
        """The name given at construction."""
        return self._location

    def _enter(self, operation: str, key: str) -> None:
        self.requests[operation] += 1
        if self.before is not None:
            self.before(operation, key)

    def _leave(self, operation: str, key: str) -> None:
        if self.after is not None:
            self.after(operation, key)

    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        """PutObject, conditional when asked (S3's semantics, checked and written atomically)."""
        self._enter("PutObject", key)
        with self._lock:
            if (if_match is not None or if_none_match) and self.conflicts > 0:
                self.conflicts -= 1
                raise ConditionalConflictError(
                    f"PutObject {key}: a concurrent conditional request is in flight",
                    error_code="ConditionalRequestConflict",
                )
            current = self.objects.get(key)
            if if_none_match and current is not None:
                raise PreconditionFailedError(
                    f"PutObject {key}: exists", error_code="PreconditionFailed"
                )
            if if_match is not None and (current is None or current.etag != if_match):
                raise PreconditionFailedError(
                    f"PutObject {key}: not version {if_match}", error_code="PreconditionFailed"
                )
            etag = f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'
            self.objects[key] = StoredObject(bytes(body), etag, content_type)
        self._leave("PutObject", key)
        return etag

    def get(self, key: str) -> StoredObject | None:
        """GetObject."""
        self._enter("GetObject", key)
        with self._lock:
            found = self.objects.get(key)
        self._leave("GetObject", key)
        return found

    def exists(self, key: str) -> bool:
        """HeadObject."""
        self._enter("HeadObject", key)
        with self._lock:
            found = key in self.objects
        self._leave("HeadObject", key)
        return found

    def copy(self, source: str, target: str) -> bool:
        """CopyObject."""
        self._enter("CopyObject", source)
        with self._lock:
            found = self.objects.get(source)
            if found is not None:
                self.objects[target] = found
        self._leave("CopyObject", source)
        return found is not None

    def list_keys(self, prefix: str, *, start_after: str = "") -> list[str]:
        """ListObjectsV2."""
        self._enter("ListObjectsV2", prefix)
        with self._lock:
            keys = sorted(k for k in self.objects if k.startswith(prefix) and k > start_after)
        self._leave("ListObjectsV2", prefix)
        return keys

    def delete(self, keys: Sequence[str]) -> None:
        """DeleteObjects."""
        if not keys:
            return
        self._enter("DeleteObjects", keys[0])
        with self._lock:
            for key in keys:
                self.objects.pop(key, None)
        self._leave("DeleteObjects", keys[0])

    def visible(self, prefix: str = "") -> dict[str, bytes]:
        """The objects Athena reads at ``prefix`` (see :func:`is_visible`), by key."""
        with self._lock:
            return {k: o.body for k, o in self.objects.items() if is_visible(k, prefix)}
