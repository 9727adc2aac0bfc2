"""What the KCL end-to-end tests share: the test pipeline and the daemon as a child process.

:class:`Pipeline` is one stream, bucket, dead-letter queue and lease table on the HTTP/2
emulator, plus what was produced into the stream; :class:`Daemon` runs
``shardflow consume kcl`` (the real MultiLangDaemon in a loopback-only network namespace)
against it. ``tests/e2e/conftest.py`` puts this folder on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from readback import jsonl_keys, jsonl_rows

from shardflow import aws, envelope, kpl
from shardflow_tools.bootstrap import BootstrapSpec, BucketSpec, QueueSpec, StreamSpec, bootstrap

logger = logging.getLogger(__name__)

#: Why the real daemon cannot run here, or None. CI runs as root with Java installed by
#: ``.ci/run``: there (``CI`` set) a missing prerequisite fails the e2e tests instead of
#: skipping them (``tests/e2e/conftest.py``).
CANNOT_RUN = (
    "needs root: the daemon runs under `unshare --net` (CI is root)"
    if os.geteuid() != 0
    else "needs Java 17 (.ci/run installs it: apt-get install openjdk-17-jre-headless)"
    if shutil.which("java") is None
    else "needs unshare (util-linux)"
    if shutil.which("unshare") is None
    else None
)

#: Bounds of the waits: generous, because a hang must fail but a loaded CI machine must not
#: (measured on an idle 2-core machine: a fresh KCL 3 start ~30-40 s, a restart ~15 s, a
#: SIGTERM to exit ~7 s; under load from parallel test runs, several times that).
FIRST_START_TIMEOUT = 300.0
RESTART_TIMEOUT = 240.0
CHECKPOINT_TIMEOUT = 120.0
#: Above the launcher's own deadline (shutdown grace 20 s + 30 s), after which it kills
#: the daemon and exits non-zero: a slow shutdown fails on the exit code, with the log.
STOP_TIMEOUT = 90.0
#: The lease table's checkpoint of a shard that ended and was checkpointed at its end.
SHARD_END = "SHARD_END"


@dataclass
class Pipeline:
    """The stream, bucket, queue and lease table of a test, and what was produced."""

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

    @classmethod
    def create(
        cls, endpoint: str, name: Callable[[str], str], workdir: Path, shards: int
    ) -> Pipeline:
        """A ``shards``-shard stream, a bucket and a dead-letter queue with random names."""

        def client(service: str) -> Any:
            return aws.client(service, endpoint_url=endpoint, region="us-east-1")

        stream, bucket, dlq = name("stream"), name("bucket"), name("dlq")
        spec = BootstrapSpec(
            key=None,
            streams=(StreamSpec(stream, shard_count=shards),),
            buckets=(BucketSpec(bucket),),
            queues=(QueueSpec(dlq),),
        )
        report = bootstrap(spec, client_factory=client)
        return cls(
            endpoint=endpoint,
            stream=stream,
            app=name("app"),
            bucket=bucket,
            dlq_url=report.queue_urls[dlq],
            workdir=workdir,
            kinesis=client("kinesis"),
            s3=client("s3"),
            dynamodb=client("dynamodb"),
        )

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
        return Counter(row["id"] for row in jsonl_rows(self.s3, self.bucket))

    def data_keys(self) -> set[str]:
        """The keys of the sink's data objects (JSON Lines)."""
        return set(jsonl_keys(self.s3, self.bucket))

    def keys(self, prefix: str) -> set[str]:
        """Every key under ``prefix`` in the bucket."""
        paginator = self.s3.get_paginator("list_objects_v2")
        return {
            obj["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
        }

    def checkpoints(self) -> dict[str, tuple[str, int]]:
        """The lease table's checkpoint per shard."""
        return {
            key: (
                item["checkpoint"]["S"],
                int(item.get("checkpointSubSequenceNumber", {"N": "0"})["N"]),
            )
            for key, item in self.leases().items()
        }

    def assert_each_event_once(self, context: str) -> None:
        """Every produced event is in S3 exactly once (and nothing else is)."""
        counts = self.output_ids()
        missing = len(set(self.ids) - set(counts))
        assert missing == 0, f"{missing} of {len(self.ids)} events not in S3 ({context})"
        assert set(counts) <= set(self.ids), f"events nobody produced in S3 ({context})"
        twice = sum(1 for n in counts.values() if n > 1)
        assert twice == 0, f"{twice} events written more than once ({context})"

    def clear_leader_lock(self) -> None:
        """Delete KCL 3's ``Leader`` lock, so a restart need not wait for a dead worker's
        lock to expire (120 s)."""
        self.dynamodb.delete_item(
            TableName=f"{self.app}-CoordinatorState", Key={"key": {"S": "Leader"}}
        )

    def log_timings(self, test: str) -> None:
        """Log what each phase took (the test report shows it with ``log_cli``)."""
        for phase, seconds in self.timings.items():
            logger.warning("%s timing: %s %.1fs", test, phase, seconds)

    def leases(self) -> dict[str, dict[str, Any]]:
        """The lease table's items by lease key (the shard id)."""
        items = self.dynamodb.scan(TableName=self.app, ConsistentRead=True)["Items"]
        return {item["leaseKey"]["S"]: item for item in items}


class Daemon:
    """``shardflow consume kcl`` as a child process in its own process group; as a
    context manager, killed at the end of the block unless it exited."""

    def __init__(
        self,
        p: Pipeline,
        run: int | str,
        extra_env: dict[str, str] | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
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
        argv += ["--workdir", str(p.workdir / f"run-{run}"), *extra_args]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Leave nothing running: SIGKILL the group if the test did not stop it."""
        if self.proc.poll() is None:
            self.kill()

    def tail(self) -> str:
        """The last lines of the daemon's log, for failure messages."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])

    def wait_for(self, what: str, condition: Condition, timeout: float) -> float:
        """Poll ``condition`` until it holds (seconds it took) or fail the test after
        ``timeout``, with what it last saw and the end of the daemon's log."""
        start = time.monotonic()
        last = "not checked yet"
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                pytest.fail(f"daemon exited ({code}) waiting for {what} ({last}):\n{self.tail()}")
            try:
                done, last = condition()
            except Exception as exc:  # tables appear while the KCL starts
                last = f"{type(exc).__name__}: {exc}"
                done = False
            if done:
                return time.monotonic() - start
            time.sleep(0.5)
        pytest.fail(f"no {what} within {timeout:.0f}s (last seen: {last}):\n{self.tail()}")

    def wait_exit(self, what: str, timeout: float) -> int:
        """Wait for ``shardflow consume kcl`` to exit on its own; its exit code."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"no {what} within {timeout:.0f}s:\n{self.tail()}")

    def terminate(self, signum: int = signal.SIGTERM, *, group: bool = False) -> tuple[int, float]:
        """Stop ``shardflow consume kcl`` with ``signum``; (exit code, seconds to exit).

        ``group=False`` signals the launcher only, as a container runtime stops its main
        process: the launcher forwards it to the daemon, which asks each processor to shut
        down (``shutdown_requested``). ``group=True`` signals the whole process group, as
        Ctrl-C in a terminal or systemd's ``KillMode=control-group`` do: the launcher, the
        daemon and every processor at once (the processors leave the shutdown to the daemon).
        """
        start = time.monotonic()
        if group:
            os.killpg(self.proc.pid, signum)
        else:
            self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            name = signal.Signals(signum).name
            pytest.fail(f"daemon still running {STOP_TIMEOUT:.0f}s after {name}:\n{self.tail()}")
        return code, time.monotonic() - start

    def kill(self) -> None:
        """SIGKILL the process group."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=STOP_TIMEOUT)


def handler_env(handler: str, **env: str) -> dict[str, str]:
    """The daemon's environment for a test handler of this folder (``module:function``)."""
    path = [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
    return {
        "SHARDFLOW_KCL_HANDLER": handler,
        "PYTHONPATH": os.pathsep.join(filter(None, path)),
        **env,
    }


#: A condition to wait for: (holds, what was seen) — the latter ends up in failure messages.
Condition = Callable[[], tuple[bool, str]]


def all_once(p: Pipeline) -> Condition:
    """Every produced event is in S3."""

    def check() -> tuple[bool, str]:
        counts = p.output_ids()
        missing = sum(1 for i in p.ids if counts[i] < 1)
        return missing == 0, f"{missing} of {len(p.ids)} events not in S3"

    return check


def checkpointed(p: Pipeline, expected: dict[str, tuple[str, int]] | None = None) -> Condition:
    """The lease table's checkpoints are ``expected`` (default: each shard's last record)."""

    def check() -> tuple[bool, str]:
        want = p.last if expected is None else expected
        have = p.checkpoints()
        return have == want, f"checkpoints {have}, expected {want}"

    return check
