"""The KCL consumer (``shardflow consume kcl``) as a child process of the demo.

It runs only where its daemon can run as the e2e tests run it: Java, the KCL jars
(``amazon_kclpy`` from kclpy-ext), and a loopback-only network namespace (root, or
unprivileged user namespaces), so the KCL's probes of the EC2 metadata address never leave
the machine. :func:`unavailable` says what is missing; the demo then runs the Lambda
consumer alone and says why.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

from shardflow import aws, settings
from shardflow_tools.bootstrap import BootstrapSpec, QueueSpec, bootstrap

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

#: The KCL consumer's table location in the demo's bucket.
KCL_PREFIX: Final = "kcl"
#: The flush span of the KCL sink in the demo: an idle buffer is written after a second.
SINK_SPAN_SECONDS: Final = "1"
#: What a processor logs once its shard is handed to it.
_INITIALIZED: Final = ": initialize, "
#: A fresh KCL 3 start takes ~26 s on an idle 2-core machine; several times that under load.
START_TIMEOUT: Final = 240.0
#: Past its shutdown grace (20 s) the launcher kills the daemon itself.
STOP_TIMEOUT: Final = 90.0


def local_prerequisites() -> str | None:
    """What this machine lacks to run the KCL consumer against a loopback endpoint (Java, the
    jars, a loopback-only network namespace), or None."""
    from consumers.kcl.errors import KclError  # noqa: PLC0415
    from consumers.kcl.isolation import unshare_prefix  # noqa: PLC0415
    from consumers.kcl.launcher import find_java  # noqa: PLC0415

    try:
        find_java()
    except KclError:
        return "no Java runtime (install openjdk-17-jre-headless or set JAVA_HOME)"
    if importlib.util.find_spec("amazon_kclpy") is None:
        return "amazon_kclpy is not installed (pip install 'shardflow[kcl]')"
    if unshare_prefix() is None:
        return (
            "no loopback-only network namespace (needs root or unprivileged user namespaces): "
            "the KCL would probe the EC2 metadata address off this machine"
        )
    return None


def unavailable(endpoint: str) -> str | None:
    """Why the KCL consumer cannot run against ``endpoint`` here, or None when it can."""
    from consumers.kcl.probe import EndpointProbeError, probe_h2c  # noqa: PLC0415

    reason = local_prerequisites()
    if reason is not None:
        return reason
    try:
        probe_h2c(endpoint)
    except EndpointProbeError as exc:
        return f"the endpoint does not speak HTTP/2 to the KCL: {exc}"
    return None


class KclWorker:
    """``shardflow consume kcl`` for one application, writing to ``s3://bucket/prefix/``."""

    def __init__(
        self,
        endpoint: str,
        stream: str,
        *,
        application: str,
        bucket: str,
        prefix: str,
        dlq_url: str,
        workdir: Path,
    ) -> None:
        self.application = application
        self.dlq_url = dlq_url
        self._stop_requested = False
        self.log = workdir / "kcl.log"
        from consumers.kcl.launcher import loopback_port  # noqa: PLC0415

        # On loopback (the emulator, LocalStack on localhost:4566) the daemon must get its
        # namespace, or nothing runs; elsewhere the launcher's own rule applies.
        loopback = loopback_port(endpoint) is not None
        argv = [sys.executable, "-m", "shardflow", "--log-level", "WARNING", "consume", "kcl"]
        argv += ["--stream", stream, "--app", application, "--bucket", bucket]
        argv += ["--prefix", prefix, "--dlq-url", dlq_url, "--java-log-level", "ERROR"]
        argv += ["--isolation", "netns" if loopback else "auto", "--workdir", str(workdir)]
        env = {
            **os.environ,
            settings.ENDPOINT_URL: endpoint,
            settings.SINK_MAX_SPAN_SECONDS: SINK_SPAN_SECONDS,
        }
        workdir.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        """The launcher's process id (the daemon and its processors run below it)."""
        return self.proc.pid

    def tail(self, lines: int = 15) -> str:
        """The end of the worker's log."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def _leases_held(self, dynamodb: DynamoDBClient) -> int:
        with contextlib.suppress(Exception):  # the lease table appears as the KCL starts
            items = dynamodb.scan(TableName=self.application, ConsistentRead=True)["Items"]
            return sum(1 for item in items if "leaseOwner" in item)
        return 0

    def _processors_started(self) -> int:
        # A processor logs its initialize (consumers.kcl.processor) when the daemon hands it
        # its shard and reads from then on; the lease is taken ~10 s earlier on a fresh start.
        return self.log.read_text(errors="replace").count(_INITIALIZED)

    def wait_until_reading(
        self, dynamodb: DynamoDBClient, shards: int, timeout: float = START_TIMEOUT
    ) -> float:
        """Wait until the KCL holds a lease on each of ``shards`` shards and a processor
        runs for each; the seconds it took. Raises RuntimeError with the log's end when it
        exits or is not ready within ``timeout``."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the KCL consumer exited ({self.proc.returncode}):\n{self.tail()}"
                )
            if self._processors_started() >= shards and self._leases_held(dynamodb) >= shards:
                return time.monotonic() - started
            time.sleep(0.5)
        raise RuntimeError(f"the KCL was not reading within {timeout:.0f} s:\n{self.tail()}")

    def request_stop(self) -> None:
        """SIGTERM to the launcher: the daemon asks each processor to flush and checkpoint."""
        if self.proc.poll() is None and not self._stop_requested:
            self._stop_requested = True
            self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> int:
        """:meth:`request_stop` (once: a second SIGTERM stops the daemon at once), wait,
        SIGKILL the group if it hangs; the exit code."""
        if self.proc.poll() is None:
            if not self._stop_requested:
                self.request_stop()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def start(endpoint: str, stream: str, shards: int, bucket: str, workdir: Path) -> KclWorker:
    """Start the KCL consumer as its own application (``<stream>-kcl``) into
    ``s3://bucket/kcl/`` with its own dead-letter queue; return once it holds every lease."""
    dlq = f"{stream}-kcl-dlq"
    report = bootstrap(
        BootstrapSpec(key=None, queues=(QueueSpec(dlq),)),
        clients={"sqs": aws.client("sqs", endpoint_url=endpoint)},
    )
    worker = KclWorker(
        endpoint,
        stream,
        application=f"{stream}-kcl",
        bucket=bucket,
        prefix=KCL_PREFIX,
        dlq_url=report.queue_urls[dlq],
        workdir=workdir,
    )
    try:
        print("starting the KCL consumer (Java) ...", file=sys.stderr)  # noqa: T201
        took = worker.wait_until_reading(aws.client("dynamodb", endpoint_url=endpoint), shards)
    except BaseException:
        worker.stop()
        raise
    print(  # noqa: T201
        f"kcl consumer      reading its {shards} shards after {took:.1f} s "
        f"({time.strftime('%H:%M:%S')})",
        file=sys.stderr,
    )
    return worker
