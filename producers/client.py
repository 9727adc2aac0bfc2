"""The producer's AWS boundary: ListShards and PutRecords, with errors translated.

Everything that touches boto3 is here. :class:`StreamClient` returns plain outcomes per
entry and raises :class:`RequestError` for a call that failed as a whole (with its AWS
error code, ``ConnectionError`` when no HTTP answer came back, or the botocore exception's
name when the call could not be made at all, e.g. ``NoCredentialsError``);
``ResourceNotFoundException`` becomes :class:`~producers.StreamNotFoundError`.

Retries live in one place. The producer retries failed PutRecords entries and calls itself
(per shard, in order, with full jitter, until the record's time to live), so the client it
builds has botocore's own retries switched off: with both, every producer attempt would be
up to ``max_attempts`` HTTP calls with botocore's backoff in between, a retry storm that
also stretches a call far past ``record_ttl``. ListShards, which the producer calls rarely,
is retried here a few times on throttling.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypedDict, cast

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from producers.exceptions import ProducerError, StreamNotFoundError
from producers.retry import is_retryable
from shardflow import aws

if TYPE_CHECKING:
    from mypy_boto3_kinesis.client import KinesisClient
    from mypy_boto3_kinesis.type_defs import PutRecordsRequestEntryTypeDef

__all__ = ["EntryOutcome", "RequestError", "StreamClient", "default_kinesis_client"]

logger = logging.getLogger(__name__)

#: Seconds to open a connection and to wait for an answer (the KPL's defaults are 6 s for
#: both); without them botocore waits 60 s each, longer than a record's time to live.
CONNECT_TIMEOUT: Final = 5.0
READ_TIMEOUT: Final = 10.0
#: ListShards attempts when it is throttled or the service is unavailable.
LIST_SHARDS_ATTEMPTS: Final = 5


def default_kinesis_client(
    max_in_flight_requests: int,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> Any:
    """The Kinesis client a producer builds when none is injected.

    No botocore retries (``total_max_attempts=1``: the producer retries, see the module
    docstring), bounded connect and read timeouts, and enough pooled connections for the
    concurrent calls. An injected client keeps its own settings; give it the same retry
    setting to avoid retries inside retries.
    """
    return aws.client(
        "kinesis",
        endpoint_url=endpoint_url,
        region=region,
        config=Config(
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            max_pool_connections=max(10, max_in_flight_requests),
            tcp_keepalive=True,
        ),
    )


@dataclass(frozen=True, slots=True)
class EntryOutcome:
    """What PutRecords said about one entry: shard and sequence number, or an error."""

    shard_id: str | None = None
    sequence_number: str | None = None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        """The entry was written."""
        return self.error_code is None


class RequestError(ProducerError):
    """A PutRecords call failed as a whole; every entry in it shares ``error_code``."""


def _error_code(exc: ClientError) -> str:
    return aws.error_code(exc) or "Unknown"


def _botocore_error_code(exc: BotoCoreError) -> str:
    """``ConnectionError`` when the request got no HTTP answer (refused, reset, timed out:
    worth retrying), otherwise the exception's name (no credentials, a bad parameter: the
    same call would fail the same way)."""
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return "ConnectionError"
    return type(exc).__name__


class _StreamTarget(TypedDict, total=False):
    """How a call names the stream: by name or by ARN (never both)."""

    StreamName: str
    StreamARN: str


class StreamClient:
    """ListShards and PutRecords for one stream (name or ARN)."""

    def __init__(
        self,
        client: KinesisClient,
        stream: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._stream = stream
        self._sleep = sleep
        self._target: _StreamTarget = (
            {"StreamARN": stream} if stream.startswith("arn:") else {"StreamName": stream}
        )

    @property
    def stream(self) -> str:
        """The stream's name (or ARN, when given one)."""
        return self._stream

    def list_shards(self) -> list[dict[str, Any]]:
        """Every shard of the stream (open and closed), following pagination.

        Throttling and transient errors are retried (``LIST_SHARDS_ATTEMPTS`` attempts,
        full jitter). Raises :class:`StreamNotFoundError` for an unknown stream and
        :class:`ProducerError` (with the AWS error code) for anything else.
        """
        for attempt in range(1, LIST_SHARDS_ATTEMPTS + 1):
            try:
                return self._list_shards_once()
            except StreamNotFoundError:
                raise
            except ProducerError as exc:
                if attempt == LIST_SHARDS_ATTEMPTS or not is_retryable(exc.error_code or ""):
                    raise
                delay = random.uniform(0.0, min(2.0, 0.1 * 2**attempt))
                logger.info("ListShards on %s failed (%s), retrying", self._stream, exc)
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _list_shards_once(self) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = dict(self._target)
        try:
            while True:
                page = self._client.list_shards(**kwargs)
                shards.extend(dict(shard) for shard in page.get("Shards", []))
                token = page.get("NextToken")
                if not token:
                    return shards
                # With a NextToken, ListShards rejects the stream name.
                kwargs = {"NextToken": token}
        except ClientError as exc:
            raise self._client_error("ListShards", exc, ProducerError) from exc
        except BotoCoreError as exc:
            raise ProducerError(
                f"ListShards on stream {self._stream!r} failed: {type(exc).__name__}: {exc}",
                stream=self._stream,
                error_code=_botocore_error_code(exc),
            ) from exc

    def _client_error(
        self, operation: str, exc: ClientError, failed: type[ProducerError]
    ) -> ProducerError:
        """The stream is missing (:class:`StreamNotFoundError`), or the call ``failed``."""
        code = _error_code(exc)
        if code == "ResourceNotFoundException":
            return StreamNotFoundError(
                f"stream {self._stream!r} does not exist ({operation}: {code})",
                stream=self._stream,
                error_code=code,
            )
        return failed(
            f"{operation} on stream {self._stream!r} failed: {exc}",
            stream=self._stream,
            error_code=code,
        )

    def put_records(self, records: Sequence[dict[str, object]]) -> list[EntryOutcome]:
        """One PutRecords call; an outcome per entry, in order.

        Raises :class:`StreamNotFoundError` or :class:`RequestError` when the call failed
        as a whole.
        """
        try:
            # The entries are built by the batcher with exactly PutRecords' entry keys.
            entries = cast("list[PutRecordsRequestEntryTypeDef]", list(records))
            response = self._client.put_records(Records=entries, **self._target)
        except ClientError as exc:
            raise self._client_error("PutRecords", exc, RequestError) from exc
        except BotoCoreError as exc:
            code = _botocore_error_code(exc)
            what = "got no answer" if code == "ConnectionError" else "could not be made"
            raise RequestError(
                f"PutRecords on stream {self._stream!r} {what}: {type(exc).__name__}: {exc}",
                stream=self._stream,
                error_code=code,
            ) from exc
        results = response.get("Records", [])
        if len(results) != len(records):
            raise RequestError(
                f"PutRecords answered {len(results)} results for {len(records)} entries",
                stream=self._stream,
                error_code="InternalFailure",
            )
        return [
            EntryOutcome(
                shard_id=r.get("ShardId"),
                sequence_number=r.get("SequenceNumber"),
                error_code=r.get("ErrorCode"),
                error_message=r.get("ErrorMessage"),
            )
            if r.get("ErrorCode")
            else EntryOutcome(shard_id=r["ShardId"], sequence_number=r["SequenceNumber"])
            for r in results
        ]
