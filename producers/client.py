"""The producer's AWS boundary: ListShards and PutRecords, with errors translated.

Everything that touches boto3 is here. :class:`StreamClient` returns plain outcomes per
entry and raises :class:`RequestError` for a call that failed as a whole (with its AWS
error code, or ``ConnectionError`` when no HTTP answer came back);
``ResourceNotFoundException`` becomes :class:`~producers.StreamNotFoundError`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from producers.exceptions import ProducerError, StreamNotFoundError
from shardflow import aws

__all__ = ["EntryOutcome", "RequestError", "StreamClient", "default_kinesis_client"]

logger = logging.getLogger(__name__)


def default_kinesis_client(max_in_flight_requests: int) -> Any:
    """The Kinesis client a producer builds when none is injected.

    Standard retry mode (botocore retries throttled or failed *calls*; the producer
    retries failed *entries*), and enough pooled connections for the concurrent calls.
    """
    return aws.client(
        "kinesis",
        config=Config(
            retries={"mode": "standard", "max_attempts": 3},
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
    return str(exc.response.get("Error", {}).get("Code") or "Unknown")


class StreamClient:
    """ListShards and PutRecords for one stream (name or ARN)."""

    def __init__(self, client: Any, stream: str) -> None:
        self._client = client
        self._stream = stream
        self._target = (
            {"StreamARN": stream} if stream.startswith("arn:") else {"StreamName": stream}
        )

    @property
    def stream(self) -> str:
        """The stream's name (or ARN, when given one)."""
        return self._stream

    def list_shards(self) -> list[dict[str, Any]]:
        """Every shard of the stream (open and closed), following pagination.

        Raises :class:`StreamNotFoundError` for an unknown stream and
        :class:`ProducerError` (with the AWS error code) for anything else.
        """
        shards: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = dict(self._target)
        try:
            while True:
                page = self._client.list_shards(**kwargs)
                shards.extend(page.get("Shards", []))
                token = page.get("NextToken")
                if not token:
                    return shards
                # With a NextToken, ListShards rejects the stream name.
                kwargs = {"NextToken": token}
        except ClientError as exc:
            code = _error_code(exc)
            if code == "ResourceNotFoundException":
                raise StreamNotFoundError(
                    f"stream {self._stream!r} does not exist (ListShards: {code})",
                    stream=self._stream,
                    error_code=code,
                ) from exc
            raise ProducerError(
                f"ListShards on stream {self._stream!r} failed: {exc}",
                stream=self._stream,
                error_code=code,
            ) from exc
        except BotoCoreError as exc:
            raise ProducerError(
                f"ListShards on stream {self._stream!r} failed: {exc}",
                stream=self._stream,
                error_code="ConnectionError",
            ) from exc

    def put_records(self, records: Sequence[dict[str, object]]) -> list[EntryOutcome]:
        """One PutRecords call; an outcome per entry, in order.

        Raises :class:`StreamNotFoundError` or :class:`RequestError` when the call failed
        as a whole.
        """
        try:
            response = self._client.put_records(Records=list(records), **self._target)
        except ClientError as exc:
            code = _error_code(exc)
            if code == "ResourceNotFoundException":
                raise StreamNotFoundError(
                    f"stream {self._stream!r} does not exist (PutRecords: {code})",
                    stream=self._stream,
                    error_code=code,
                ) from exc
            raise RequestError(
                f"PutRecords on stream {self._stream!r} failed: {exc}",
                stream=self._stream,
                error_code=code,
            ) from exc
        except BotoCoreError as exc:
            raise RequestError(
                f"PutRecords on stream {self._stream!r} got no answer: {exc}",
                stream=self._stream,
                error_code="ConnectionError",
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
