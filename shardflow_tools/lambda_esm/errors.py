"""Errors of the local event-source-mapping runner, in the consumers' exception tree."""

from __future__ import annotations

from consumers.errors import ConsumerError
from shardflow import errors as _core


class MappingError(ConsumerError):
    """Base class of the runner's errors; carries the stream and shard when known."""


class CheckpointError(MappingError):
    """A checkpoint could not be read or written (DynamoDB error other than a conflict)."""


class CheckpointConflictError(CheckpointError):
    """Another runner wrote this shard's checkpoint since we read it: we no longer own it."""


class StreamNotFoundError(MappingError, _core.StreamNotFoundError):
    """The stream does not exist (or is not ACTIVE) at the endpoint: the one
    :class:`shardflow.errors.StreamNotFoundError`, as a :class:`MappingError`."""


class HandlerImportError(MappingError):
    """``--handler`` does not name an importable callable (``module.attr`` or ``module:attr``)."""
