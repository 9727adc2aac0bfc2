"""``shardflow local`` as the README starts it: HTTP/1.1 and h2c on one port (issue 15.1, 15.6)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from consumers.kcl.probe import probe_h2c
from shardflow import aws


@pytest.fixture
def local_port_zero() -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    env.pop("AWS_ENDPOINT_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "shardflow", "local", "--port", "0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith("export AWS_ENDPOINT_URL="):
            break
    url = lines[-1].strip().partition("=")[2]
    try:
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)


def test_port_zero_announces_the_port_it_listens_on_for_both_protocols(
    local_port_zero: tuple[subprocess.Popen[str], str],
) -> None:
    proc, url = local_port_zero
    assert url.startswith("http://127.0.0.1:")
    assert not url.endswith(":0")
    # HTTP/1.1: boto3, as the producer and the Lambda consumer use it.
    kinesis = aws.client("kinesis", endpoint_url=url, region="us-east-1")
    assert kinesis.list_streams()["StreamNames"] == []
    # h2c: what the KCL's Kinesis client speaks, on the same port.
    probe_h2c(url)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0


def test_detach_returns_once_it_listens_and_prints_what_to_eval() -> None:
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "shardflow", "local", "--detach", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    lines = dict(line.removeprefix("export ").split("=", 1) for line in done.stdout.splitlines())
    pid = int(lines["EMULATOR_PID"])
    try:
        kinesis = aws.client("kinesis", endpoint_url=lines["AWS_ENDPOINT_URL"], region="us-east-1")
        assert kinesis.list_streams()["StreamNames"] == []
        probe_h2c(lines["AWS_ENDPOINT_URL"])
    finally:
        os.kill(pid, signal.SIGTERM)
