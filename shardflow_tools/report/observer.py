"""Watch a consumer's S3 output as Athena reads it, and note when each event appeared.

An event's end-to-end latency is from the producer's ``put`` (the envelope's ``time``,
stamped in ``put`` with millisecond precision on this machine's clock) to the first listing
that shows an object holding it. Athena reads every object under the table's prefix except
those with a path segment starting with ``_`` or ``.`` (the sink's staging objects and
manifests), so only those count. The resolution is the polling interval (0.5 s: each
poll lists the whole prefix, which costs the emulator more as the run's objects pile up).
"""

from __future__ import annotations

import gzip
import io
import logging
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

from shardflow_tools.report.timeline import Timeline

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

logger = logging.getLogger(__name__)


def athena_visible(key: str, prefix: str) -> bool:
    """Whether Athena reads ``key`` as part of the table at ``prefix``."""
    base = prefix.rstrip("/") + "/"
    if not key.startswith(base) or key.endswith("/"):
        return False
    return not any(part[:1] in {"_", "."} for part in key[len(base) :].split("/"))


def event_times(key: str, body: bytes) -> list[float]:
    """The envelope ``time`` (epoch seconds) of each row of a sink object (Parquet or gzip
    JSON Lines); rows without one are left out."""
    if key.endswith(".parquet"):
        import pyarrow as pa  # noqa: PLC0415 - the "parquet" extra
        import pyarrow.parquet as pq  # noqa: PLC0415

        column = pq.read_table(io.BytesIO(body), columns=["time"]).column("time")
        millis = column.cast(pa.timestamp("ms")).cast(pa.int64()).to_pylist()
        return [ms / 1000 for ms in millis if ms is not None]
    times: list[float] = []
    for line in gzip.decompress(body).splitlines():
        if line:
            value = orjson.loads(line).get("time")
            if value:
                times.append(_jsonl_time(value))
    return times


def _jsonl_time(value: str) -> float:
    # The sink writes JSON Lines timestamps as the Hive JSON SerDe reads them: UTC, without
    # an offset ("2026-12-04 22:34:09.183"); an envelope's own time has one.
    stamp = datetime.fromisoformat(value)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


class OutputObserver:
    """Polls ``s3://bucket/prefix/`` every ``interval`` seconds from a thread; each new
    visible object's events go to ``timeline`` as delivered by ``consumer``."""

    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        prefix: str,
        consumer: str,
        timeline: Timeline,
        *,
        interval: float = 0.5,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        self.consumer = consumer
        self._timeline = timeline
        self._interval = interval
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"observe-{consumer}", daemon=True)
        self.objects = 0
        self.error: BaseException | None = None

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling after one last look (returns when the thread has ended)."""
        self._stop.set()
        self._thread.join(timeout=60)
        self.poll()

    def poll(self) -> int:
        """List the output once; note the events of objects not seen before; how many."""
        seen_at = time.time()
        paginator = self._s3.get_paginator("list_objects_v2")
        new: list[str] = []
        for page in paginator.paginate(Bucket=self._bucket, Prefix=f"{self._prefix}/"):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if key not in self._seen and athena_visible(key, self._prefix):
                    new.append(key)
        count = 0
        for key in new:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            times = event_times(key, body)
            self._timeline.note_visible(self.consumer, seen_at, times)
            self._seen.add(key)
            count += len(times)
        self.objects += len(new)
        return count

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.poll()
            except Exception as exc:  # the bucket appears with the consumer; report the last
                logger.debug("observing %s: %s", self.consumer, exc)
                self.error = exc
