"""Follow a stream's events: every shard read in turn, KPL aggregates taken apart.

What ``shardflow tail`` prints, one JSON object per user record: where it came from (shard,
sequence and sub-sequence number, partition key, arrival time) and the event, decoded as
JSON when it is JSON, else as text or base64. A closed shard's children are picked up when
the shard list is read again.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import orjson
from botocore.exceptions import ClientError

from shardflow import aws, kpl
from shardflow.errors import ShardflowError, WireFormatError

if TYPE_CHECKING:
    from mypy_boto3_kinesis.client import KinesisClient

#: Seconds between reads of a caught-up shard, and between shard list reads.
POLL_SECONDS: Final = 1.0
_RELIST_SECONDS: Final = 10.0


class TailError(ShardflowError):
    """The stream cannot be read (missing, or an iterator refused)."""


def _decoded(data: bytes) -> dict[str, Any]:
    try:
        return {"event": orjson.loads(data)}
    except orjson.JSONDecodeError:
        pass
    try:
        return {"text": data.decode()}
    except UnicodeDecodeError:
        return {"data_base64": base64.b64encode(data).decode()}


def records_as_lines(shard_id: str, record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The user records of one Kinesis record, each as the object ``tail`` prints."""
    data: bytes = record["Data"]
    arrival = record.get("ApproximateArrivalTimestamp")
    base = {
        "shard_id": shard_id,
        "sequence_number": record["SequenceNumber"],
        "arrival_time": arrival.isoformat() if isinstance(arrival, datetime) else None,
    }
    if kpl.is_aggregated(data):
        try:
            users = kpl.deaggregate(data)
        except WireFormatError as exc:
            yield {**base, "partition_key": record["PartitionKey"], "error": str(exc)}
            return
        for user in users:
            yield {
                **base,
                "sub_sequence_number": user.sub_sequence_number,
                "partition_key": user.partition_key,
                **_decoded(user.data),
            }
        return
    yield {**base, "partition_key": record["PartitionKey"], **_decoded(data)}


def _iterator_args(start: str | datetime) -> dict[str, Any]:
    if isinstance(start, datetime):
        return {"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": start}
    return {"ShardIteratorType": start}


class StreamTail:
    """Reads every shard of ``stream`` from ``start`` (TRIM_HORIZON, LATEST or a time)."""

    def __init__(
        self,
        kinesis: KinesisClient,
        stream: str,
        start: str | datetime,
        *,
        poll_seconds: float = POLL_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kinesis = kinesis
        self._stream = stream
        self._start = start
        self._poll = poll_seconds
        self._sleep = sleep
        self._clock = clock
        self._iterators: dict[str, str | None] = {}
        self._listed = False
        self.caught_up = False

    def _call(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except ClientError as exc:
            code = aws.error_code(exc)
            if code == "ResourceNotFoundException":
                raise TailError(
                    f"stream {self._stream!r} not found (create it with `shardflow bootstrap`, "
                    "or pass another --stream)"
                ) from exc
            raise TailError(f"{what} on {self._stream!r} failed: {code}: {exc}") from exc

    def _sync_shards(self) -> None:
        shards = self._call("ListShards", self._kinesis.list_shards, StreamName=self._stream)
        for shard in shards["Shards"]:
            shard_id = shard["ShardId"]
            if shard_id in self._iterators:
                continue
            # Shards that appear later (children of a reshard) are read from their start.
            start = "TRIM_HORIZON" if self._listed else self._start
            got = self._call(
                "GetShardIterator",
                self._kinesis.get_shard_iterator,
                StreamName=self._stream,
                ShardId=shard_id,
                **_iterator_args(start),
            )
            self._iterators[shard_id] = got["ShardIterator"]
        self._listed = True

    def lines(self, *, follow: bool = True) -> Iterator[dict[str, Any]]:
        """Each user record as a line object; without ``follow``, stop once caught up."""
        self._sync_shards()
        listed = self._clock()
        while True:
            behind = False
            for shard_id, iterator in list(self._iterators.items()):
                if iterator is None:
                    continue
                got = self._call(
                    "GetRecords", self._kinesis.get_records, ShardIterator=iterator, Limit=1000
                )
                self._iterators[shard_id] = got.get("NextShardIterator")
                for record in got["Records"]:
                    yield from records_as_lines(shard_id, record)
                if got["Records"] or got.get("MillisBehindLatest", 0) > 0:
                    behind = True
            if not behind:
                self.caught_up = True
                if not follow:
                    return
                self._sleep(self._poll)
            if self._clock() - listed > _RELIST_SECONDS:
                self._sync_shards()
                listed = self._clock()


__all__ = ("POLL_SECONDS", "StreamTail", "TailError", "records_as_lines")
