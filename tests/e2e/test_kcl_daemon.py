"""The real KCL 3.1.3 MultiLangDaemon, run by ``shardflow consume kcl``, end to end.

The emulator (moto over HTTP/2) runs on the host's loopback; the launcher runs the daemon
and its ``python -m consumers.kcl`` processors in a loopback-only network namespace (the
KCL probes 169.254.169.254; nothing may leave the machine), bridged to the emulator.

One test, three runs of the daemon against one 2-shard stream:

1. fresh start: every event of batch 1 reaches S3 once; the lease table's checkpoints are
   each shard's last record. SIGTERM: graceful shutdown, exit code 0.
2. batch 2 produced while stopped; restart: resumes from the checkpoints, no loss, no
   duplicate.
3. batch 3 with checkpoints held back (``SHARDFLOW_KCL_CHECKPOINT_INTERVAL_SECONDS``), so
   S3 is ahead of the lease table; SIGKILL the whole process group; restart: the replay
   writes nothing twice and the checkpoints catch up.

After the SIGKILL the test deletes the dead worker's ``Leader`` item from
``<app>-CoordinatorState``: KCL 3 otherwise waits for the lock to expire (120 s). Clearing
it fast-forwards that wait and keeps KCL 3's own lease assignment under test (the
alternative, ``clientVersionConfig = CLIENT_VERSION_CONFIG_COMPATIBLE_WITH_2X``, would
test the 2.x-compatible mode instead of the one production runs).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shardflow import aws, envelope, kpl
from shardflow.emulator_h2 import Http2EmulatorProcess

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="needs root: the daemon runs under `unshare --net` (CI is root)"
    ),
    pytest.mark.skipif(shutil.which("java") is None, reason="needs Java (.ci/run installs it)"),
    pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)"),
]

logger = logging.getLogger(__name__)

#: Bounds of the waits: a fresh KCL 3 start takes ~30-40 s here, a restart ~15 s.
FIRST_START_TIMEOUT = 150.0
RESTART_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0


@dataclass
class Pipeline:
    """The stream, bucket, queue and lease table of the test, and what was produced."""

    endpoint: str
    stream: str
    app: str
    bucket: str
    dlq_url: str
    workdir: Path
    kinesis: Any
    s3: Any
    dynamodb: Any
    #: shard id -> (sequence number, sub-sequence number) of its last user record
    last: dict[str, tuple[str, int]] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def produce(self, batch: int, count: int) -> None:
        """``count`` events: two thirds in KPL aggregates of 5, the rest plain records.

        The user records of an aggregate share its partition key: the KCL drops
        de-aggregated user records whose key hashes outside the aggregate's shard (the
        KPL and shardflow's producer aggregate per shard for that reason).
        """
        events = [
            envelope.build({"type": "e2e", "data": {"batch": batch, "n": n}}, default_source="t")
            for n in range(count)
        ]
        self.ids += [e["id"] for e in events]
        entries: list[dict[str, Any]] = []
        subs: list[int] = []
        plain = count // 3
        for e in events[:plain]:
            entries.append({"Data": envelope.encode(e), "PartitionKey": e["id"]})
            subs.append(0)
        rest = events[plain:]
        for i in range(0, len(rest), 5):
            chunk = rest[i : i + 5]
            key = chunk[0]["id"]
            data = kpl.aggregate([(key, envelope.encode(e)) for e in chunk])
            entries.append({"Data": data, "PartitionKey": key})
            subs.append(len(chunk) - 1)
        resp = self.kinesis.put_records(StreamName=self.stream, Records=entries)
        assert resp["FailedRecordCount"] == 0
        for result, sub in zip(resp["Records"], subs, strict=True):
            shard, seq = result["ShardId"], result["SequenceNumber"]
            if shard not in self.last or int(seq) > int(self.last[shard][0]):
                self.last[shard] = (seq, sub)

    def output_ids(self) -> Counter[str]:
        """How many times each event id appears in the S3 output."""
        import gzip
        import json

        counts: Counter[str] = Counter()
        for key in self.data_keys():
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            for line in gzip.decompress(body).splitlines():
                counts[json.loads(line)["id"]] += 1
        return counts

    def data_keys(self) -> set[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        return {
            obj["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix="events/")
            for obj in page.get("Contents", [])
            if obj["Key"].endswith(".json.gz")
        }

    def checkpoints(self) -> dict[str, tuple[str, int]]:
        """The lease table's checkpoint per shard."""
        items = self.dynamodb.scan(TableName=self.app, ConsistentRead=True)["Items"]
        return {
            it["leaseKey"]["S"]: (
                it["checkpoint"]["S"],
                int(it.get("checkpointSubSequenceNumber", {"N": "0"})["N"]),
            )
            for it in items
        }


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    with Http2EmulatorProcess() as emu:
        yield emu.endpoint_url


@pytest.fixture
def pipeline(
    emulator: str, unique_name: Callable[[str], str], tmp_path: Path
) -> Iterator[Pipeline]:
    def client(service: str) -> Any:
        return aws.client(service, endpoint_url=emulator, region="us-east-1")

    kinesis, s3, sqs = client("kinesis"), client("s3"), client("sqs")
    stream, bucket = unique_name("stream"), unique_name("bucket")
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=stream, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50}
    )
    s3.create_bucket(Bucket=bucket)
    dlq_url = sqs.create_queue(QueueName=unique_name("dlq"))["QueueUrl"]
    yield Pipeline(
        endpoint=emulator,
        stream=stream,
        app=unique_name("app"),
        bucket=bucket,
        dlq_url=dlq_url,
        workdir=tmp_path,
        kinesis=kinesis,
        s3=s3,
        dynamodb=client("dynamodb"),
    )


class Daemon:
    """``shardflow consume kcl`` as a child process in its own process group."""

    def __init__(self, p: Pipeline, run: int, extra_env: dict[str, str] | None = None) -> None:
        self.log = p.workdir / f"daemon-{run}.log"
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": p.endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1",
            "SHARDFLOW_OUTPUT_FORMAT": "jsonl",
            # Flush an idle buffer 2 s after its first event arrived.
            "SHARDFLOW_SINK_MAX_SPAN_SECONDS": "2",
            **(extra_env or {}),
        }
        argv = [sys.executable, "-m", "shardflow", "--log-level", "INFO", "consume", "kcl"]
        argv += ["--stream", p.stream, "--app", p.app, "--bucket", p.bucket]
        argv += ["--dlq-url", p.dlq_url, "--isolation", "netns", "--java-log-level", "WARN"]
        argv += ["--workdir", str(p.workdir / f"run-{run}")]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                pytest.fail(f"daemon exited ({code}) waiting for {what}:\n{self.tail()}")
            try:
                if predicate():
                    return time.monotonic() - start
            except Exception as exc:  # tables appear while the KCL starts
                logger.debug("waiting for %s: %s", what, exc)
            time.sleep(0.5)
        pytest.fail(f"no {what} within {timeout:.0f}s:\n{self.tail()}")

    def terminate(self) -> tuple[int, float]:
        start = time.monotonic()
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"daemon still running {STOP_TIMEOUT:.0f}s after SIGTERM:\n{self.tail()}")
        return code, time.monotonic() - start

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=STOP_TIMEOUT)


def _all_once(p: Pipeline) -> Callable[[], bool]:
    def check() -> bool:
        counts = p.output_ids()
        return all(counts[i] >= 1 for i in p.ids)

    return check


def _checkpointed(p: Pipeline) -> Callable[[], bool]:
    return lambda: p.checkpoints() == p.last


def test_kcl_daemon_end_to_end_with_restart_and_crash(pipeline: Pipeline) -> None:
    p = pipeline
    # -- run 1: fresh start ---------------------------------------------------------------
    p.produce(batch=1, count=150)
    assert len(p.last) == 2, "both shards get records"
    daemon = Daemon(p, 1)
    try:
        p.timings["first start: all in S3"] = daemon.wait_for(
            "batch 1 in S3", _all_once(p), FIRST_START_TIMEOUT
        )
        p.timings["first start: checkpoints"] = daemon.wait_for(
            "batch 1 checkpoints", _checkpointed(p), 60
        )
        code, p.timings["SIGTERM to exit"] = daemon.terminate()
    finally:
        if daemon.proc.poll() is None:
            daemon.kill()
    assert code == 0, daemon.tail()
    counts = p.output_ids()
    assert set(counts) == set(p.ids)
    assert max(counts.values()) == 1

    # -- run 2: produce while stopped, restart --------------------------------------------
    p.produce(batch=2, count=150)
    daemon = Daemon(p, 2)
    try:
        p.timings["restart after SIGTERM: all in S3"] = daemon.wait_for(
            "batch 2 in S3", _all_once(p), RESTART_TIMEOUT
        )
        daemon.wait_for("batch 2 checkpoints", _checkpointed(p), 60)
        code, _ = daemon.terminate()
    finally:
        if daemon.proc.poll() is None:
            daemon.kill()
    assert code == 0, daemon.tail()
    counts = p.output_ids()
    assert set(counts) == set(p.ids), "no loss across the restart"
    assert max(counts.values()) == 1, "no duplicate across the restart"
    checkpoints_before_crash = p.checkpoints()

    # -- run 3: S3 ahead of the checkpoints, SIGKILL, restart ---------------------------
    p.produce(batch=3, count=150)
    daemon = Daemon(p, 3, {"SHARDFLOW_KCL_CHECKPOINT_INTERVAL_SECONDS": "3600"})
    try:
        daemon.wait_for("batch 3 in S3", _all_once(p), RESTART_TIMEOUT)
        assert p.checkpoints() == checkpoints_before_crash, "written but not checkpointed"
    finally:
        daemon.kill()
    keys_before_replay = p.data_keys()
    p.dynamodb.delete_item(TableName=f"{p.app}-CoordinatorState", Key={"key": {"S": "Leader"}})
    daemon = Daemon(p, 4)
    try:
        p.timings["restart after SIGKILL: checkpoints"] = daemon.wait_for(
            "batch 3 checkpoints after the crash", _checkpointed(p), RESTART_TIMEOUT
        )
        code, _ = daemon.terminate()
    finally:
        if daemon.proc.poll() is None:
            daemon.kill()
    counts = p.output_ids()
    assert set(counts) == set(p.ids), "no loss across the crash"
    assert max(counts.values()) == 1, "the replay wrote no event twice"
    assert p.data_keys() == keys_before_replay, "the replay added no object"
    for phase, seconds in p.timings.items():
        logger.warning("kcl e2e timing: %s %.1fs", phase, seconds)
