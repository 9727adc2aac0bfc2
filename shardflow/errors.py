"""The root of every exception shardflow raises, and its one message format.

Each package (``producers``, ``consumers``, the tooling) derives its own tree from
:class:`ShardflowError`, so an application can catch everything from the library with
one ``except`` and still tell the cases apart. An error about a place in a stream carries
that place as attributes (``stream``, ``shard_id``, ``sequence_number``, ``error_code`` for
the AWS error code of a failed call), and ``str()`` names the ones that are set after the
message: ``"S3 flush failed (stream=orders, shard=shardId-000000000001, error_code=SlowDown)"``.
"""

from __future__ import annotations

from collections.abc import Iterator


class ShardflowError(Exception):
    """Base class of all shardflow errors; the context attributes are None when unknown."""

    def __init__(
        self,
        message: str = "",
        *,
        stream: str | None = None,
        shard_id: str | None = None,
        sequence_number: str | None = None,
        error_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.stream = stream
        self.shard_id = shard_id
        self.sequence_number = sequence_number
        self.error_code = error_code

    @property
    def message(self) -> str:
        """The message without the context."""
        return super().__str__()

    def context(self) -> Iterator[tuple[str, object]]:
        """``(label, value)`` of the context named in ``str()``; subclasses add their own."""
        yield "stream", self.stream
        yield "shard", self.shard_id
        yield "sequence_number", self.sequence_number
        yield "error_code", self.error_code

    def __str__(self) -> str:
        # Read at str() time, so context a caller adds after construction is named too.
        known = ", ".join(f"{k}={v}" for k, v in self.context() if v is not None)
        return f"{self.message} ({known})" if known else self.message


class ConfigError(ShardflowError, ValueError):
    """A setting is out of range or of the wrong kind; the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class WireFormatError(ShardflowError, ValueError):
    """Bytes that claim to be a KPL aggregate (or an envelope) but cannot be decoded."""


class InvalidEnvelopeError(ShardflowError, ValueError):
    """An event is not a valid envelope: not JSON, not an object, or a field missing."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        stream: str | None = None,
        shard_id: str | None = None,
        sequence_number: str | None = None,
        error_code: str | None = None,
    ) -> None:
        # The context keywords keep it cooperative: producers.InvalidEnvelopeError is both
        # this and a ProducerError, whose constructor passes its context on.
        super().__init__(
            message,
            stream=stream,
            shard_id=shard_id,
            sequence_number=sequence_number,
            error_code=error_code,
        )
        self.field = field


class StreamNotFoundError(ShardflowError):
    """The stream does not exist (Kinesis answered ``ResourceNotFoundException``), or is
    not ACTIVE.

    The one class for a missing stream: the producer raises it as
    :class:`producers.StreamNotFoundError` (also a ``ProducerError``), the local event
    source mapping runner as ``shardflow_tools.lambda_esm.StreamNotFoundError`` (also a
    ``MappingError``); ``except shardflow.errors.StreamNotFoundError`` catches either.
    """
