"""One shard's commit log in the object store: takeover, staging, fenced commit, roll-forward.

The requests of the protocol described in :mod:`consumers.sink.writer`, for one writer of
one shard. No buffering here: :class:`~consumers.sink.ShardWriter` decides what to flush.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Final, ParamSpec, TypeVar

from consumers.errors import FencedError, SinkError
from consumers.records import Position
from consumers.sink import layout
from consumers.sink.manifest import Manifest, ShardHead
from consumers.sink.store import (
    ConditionalConflictError,
    ObjectStore,
    PreconditionFailedError,
    StoreError,
)

logger = logging.getLogger(__name__)
_P = ParamSpec("_P")
_R = TypeVar("_R")

#: Waits before retrying a conditional write S3 answered with 409 (a concurrent conditional
#: request on the key); the first retry is immediate.
CONFLICT_DELAYS: Final = (0.0, 0.05, 0.2, 0.5, 1.0)
#: Takeovers lost to another writer in a row before giving up (each one re-reads the head).
TAKEOVER_ATTEMPTS: Final = 20
_JSON: Final = "application/json"


class ShardLog:
    """The commit log of one shard as one writer sees it (a fresh random writer id)."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        prefix: str,
        stream: str,
        shard_id: str,
    ) -> None:
        self.store = store
        self.prefix = prefix
        self.stream = stream
        self.shard_id = shard_id
        self.writer_id = uuid.uuid4().hex[:16]
        self.generation = 0  # not the owner yet
        self._head_key = layout.head_key(prefix, stream, shard_id)
        self._etag: str | None = None

    # ------------------------------------------------------------------ requests

    def _io(self, what: str, call: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """A store request; a failure re-raised as SinkError with this shard's context."""
        try:
            return call(*args, **kwargs)
        except StoreError as exc:
            raise SinkError(
                f"{what}: {exc}",
                stream=self.stream,
                shard_id=self.shard_id,
                error_code=exc.error_code,
            ) from exc

    def _read_head(self) -> tuple[ShardHead | None, str | None]:
        found = self._io("read the shard's head", self.store.get, self._head_key)
        if found is None:
            return None, None
        try:
            return ShardHead.from_json(found.body), found.etag
        except ValueError as exc:
            raise SinkError(
                f"{self.store.location}/{self._head_key} is unreadable: {exc}",
                stream=self.stream,
                shard_id=self.shard_id,
            ) from exc

    def _put_head(self, head: ShardHead, etag: str | None) -> str:
        """Conditional PUT of the head (create when ``etag`` is None); 409s retried."""
        body = head.to_json()
        for delay in CONFLICT_DELAYS:
            if delay:
                time.sleep(delay)
            try:
                return self.store.put(
                    self._head_key,
                    body,
                    content_type=_JSON,
                    if_match=etag,
                    if_none_match=etag is None,
                )
            except ConditionalConflictError:
                logger.info("shard %s/%s: head update conflicted (409), retrying", *self._ids)
        raise SinkError(
            f"{self.store.location}/{self._head_key}: conditional writes kept conflicting (409)",
            stream=self.stream,
            shard_id=self.shard_id,
            error_code="ConditionalRequestConflict",
        )

    @property
    def _ids(self) -> tuple[str, str]:
        return self.stream, self.shard_id

    def manifest_key(self, last: Position) -> str:
        """Where the manifest of the flush ending at ``last`` goes."""
        return layout.manifest_key(self.prefix, self.stream, self.shard_id, last)

    def staging_key(self, object_key: str) -> str:
        """Where this writer stages the object that becomes ``object_key``."""
        return layout.staging_key(
            self.prefix, self.stream, self.shard_id, self.writer_id, object_key
        )

    # ------------------------------------------------------------------ the protocol

    def take_over(self) -> None:
        """Become the shard's owner: bump the head's generation (fencing every earlier
        writer), roll its latest commit forward, and remove every staged object left. A
        takeover that loses to another writer's commit or takeover reads the head again."""
        for _ in range(TAKEOVER_ATTEMPTS):
            head, etag = self._read_head()
            if head is not None and head.writer == self.writer_id:
                self._etag, self.generation = etag, head.generation  # an earlier try landed
                break
            mine = ShardHead(
                self.stream,
                self.shard_id,
                generation=1 if head is None else head.generation + 1,
                writer=self.writer_id,
                pending=None if head is None else head.pending,
            )
            try:
                self._etag = self._put_head(mine, etag)
            except PreconditionFailedError:
                logger.info(
                    "shard %s/%s: head moved while taking over; reading it again", *self._ids
                )
                continue
            except StoreError as exc:
                raise self._error("take the shard over", exc) from exc
            head, self.generation = mine, mine.generation
            break
        else:
            raise SinkError(
                f"could not take the shard over in {TAKEOVER_ATTEMPTS} attempts",
                stream=self.stream,
                shard_id=self.shard_id,
            )
        assert head is not None
        pending = head.pending
        if pending is not None and not self._io(
            "check a commit", self.store.exists, self.manifest_key(pending.last)
        ):
            logger.info(
                "shard %s/%s: rolling forward %s..%s, committed by an earlier writer",
                self.stream,
                self.shard_id,
                pending.first,
                pending.last,
            )
            self.roll_forward(pending)
        # Every commit is now rolled forward and no other writer can commit: whatever is
        # still staged is a refused flush, or a copy already made.
        staging = layout.staging_prefix(self.prefix, self.stream, self.shard_id)
        stale = self._io("list staged objects", self.store.list_keys, staging)
        if stale:
            logger.info(
                "shard %s/%s: removing %d staged object(s) left by earlier writers",
                self.stream,
                self.shard_id,
                len(stale),
            )
            self._io("remove uncommitted staged objects", self.store.delete, stale)

    def stage(
        self, bodies: Sequence[tuple[str, bytes]], content_type: str, first: Position
    ) -> None:
        """Write the objects of a flush under their staged (hidden) keys."""
        for key, body in bodies:
            try:
                self.store.put(key, body, content_type=content_type)
            except StoreError as exc:
                raise SinkError(
                    f"stage {self.store.location}/{key}: {exc}",
                    stream=self.stream,
                    shard_id=self.shard_id,
                    sequence_number=first.sequence_number,
                    error_code=exc.error_code,
                ) from exc

    def commit(self, manifest: Manifest) -> None:
        """Make ``manifest`` the head's latest commit, if this writer still owns the shard.

        Raises :class:`FencedError` (after removing the flush's staged objects) when another
        writer took the shard over; SinkError when the answer is unknown (retry with the
        same manifest: an earlier attempt that landed is then recognised).
        """
        head = ShardHead(
            self.stream, self.shard_id, self.generation, self.writer_id, pending=manifest
        )
        try:
            self._etag = self._put_head(head, self._etag)
            return
        except PreconditionFailedError:
            pass
        except StoreError as exc:
            raise self._error(f"commit {manifest.first}..{manifest.last}", exc) from exc
        if self._landed(manifest):
            return
        logger.warning(
            "shard %s/%s: fenced: another writer owns the shard; %s..%s not written",
            self.stream,
            self.shard_id,
            manifest.first,
            manifest.last,
        )
        try:
            self.store.delete(manifest.staged)
        except StoreError:
            logger.warning("shard %s/%s: staged objects left for the owner to remove", *self._ids)
        raise FencedError(
            "another writer took the shard over",
            stream=self.stream,
            shard_id=self.shard_id,
            first=manifest.first,
            last=manifest.last,
        )

    def _landed(self, manifest: Manifest) -> bool:
        """After a lost commit: did an earlier attempt of this very commit land? Then the
        head holds it still, or its successor rolled it forward (its manifest exists)."""
        head, etag = self._read_head()
        if head is not None and head.pending == manifest:
            if head.writer == self.writer_id:
                self._etag = etag
            return True
        found = self._io("check a commit", self.store.get, self.manifest_key(manifest.last))
        if found is None:
            return False
        try:
            return Manifest.from_json(found.body) == manifest
        except ValueError:
            return False

    def roll_forward(self, manifest: Manifest) -> None:
        """Make a committed flush visible: copy its staged objects to their keys, write its
        manifest, remove the staged copies. Idempotent, whoever runs it and however often: a
        staged object already removed was copied by an earlier roll-forward."""
        for obj, staged in zip(manifest.objects, manifest.staged, strict=True):
            self._io(f"make {obj.key} visible", self.store.copy, staged, obj.key)
        self._io(
            "write a manifest",
            self.store.put,
            self.manifest_key(manifest.last),
            manifest.to_json(),
            content_type=_JSON,
        )
        if manifest.staged:
            self._io("remove staged objects", self.store.delete, manifest.staged)

    def committed(self, start: Position) -> list[Manifest]:
        """The manifests of committed flushes ending at or after ``start``, in stream order.
        Manifests an older version left ``pending`` (it crashed mid-flush) have their
        objects removed."""
        prefix = layout.manifest_prefix(self.prefix, self.stream, self.shard_id)
        start_after = layout.manifests_start_after(self.prefix, self.stream, self.shard_id, start)
        out: list[Manifest] = []
        for key in self._io(
            "list manifests", self.store.list_keys, prefix, start_after=start_after
        ):
            manifest = self._read_manifest(key)
            if manifest.status == "committed":
                out.append(manifest)
                continue
            logger.warning(
                "shard %s/%s: removing an unfinished flush (%s, %d object(s))",
                self.stream,
                self.shard_id,
                key,
                len(manifest.objects),
            )
            keys = (*(o.key for o in manifest.objects), key)
            self._io("delete an unfinished flush", self.store.delete, keys)
        return out

    def _read_manifest(self, key: str) -> Manifest:
        found = self._io("read a manifest", self.store.get, key)
        if found is None:
            raise SinkError(
                f"manifest {self.store.location}/{key} vanished while listed",
                stream=self.stream,
                shard_id=self.shard_id,
            )
        try:
            return Manifest.from_json(found.body)
        except ValueError as exc:
            raise SinkError(
                f"manifest {self.store.location}/{key} is unreadable: {exc}",
                stream=self.stream,
                shard_id=self.shard_id,
            ) from exc

    def _error(self, what: str, exc: StoreError) -> SinkError:
        return SinkError(
            f"{what}: {exc}", stream=self.stream, shard_id=self.shard_id, error_code=exc.error_code
        )
