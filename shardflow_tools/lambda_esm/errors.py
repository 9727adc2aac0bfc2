"""Errors of the local event-source-mapping runner."""

from __future__ import annotations

from shardflow.errors import ShardflowError


class MappingError(ShardflowError):
    """Base class of the runner's errors; carries the stream and shard when known."""

    def __init__(
        self,
        message: str,
        *,
        stream: str | None = None,
        shard_id: str | None = None,
        error_code: str | None = None,
    ) -> None:
        where = "/".join(part for part in (stream, shard_id) if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.stream = stream
        self.shard_id = shard_id
        self.error_code = error_code


class CheckpointError(MappingError):
    """A checkpoint could not be read or written (DynamoDB error other than a conflict)."""


class CheckpointConflictError(CheckpointError):
    """Another runner wrote this shard's checkpoint since we read it: we no longer own it."""


class StreamNotFoundError(MappingError):
    """The stream does not exist (or is not ACTIVE) at the endpoint."""


class HandlerImportError(MappingError):
    """``--handler`` does not name an importable callable (``module.attr`` or ``module:attr``)."""
