"""The fault table's Lambda crash row: ``shardflow consume lambda`` is SIGKILLed between an
S3 write and its checkpoint, then restarted and drained.

The consumer runs as its own process against the fault proxy. A proxy hook watches its
calls and, when a checkpoint write (a DynamoDB write on the checkpoint table) arrives after
S3 PUTs, kills the process before forwarding that write and drops it: S3 holds a batch
the checkpoint never covered, which the restarted consumer reads again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from faultproxy import Request
from harness import FaultPipeline

RUNTIME = "lambda"
EVENTS = 2000
#: Bounds of the waits (a drain of 2,000 events takes ~10-30 s on an idle 2-core machine).
RUN_TIMEOUT = 240.0
#: The kill comes after this many S3 PUTs: mid-run, with checkpoints already written
#: (a batch is one record, a KPL aggregate of ~100 events: ~20 batches in all).
PUTS_BEFORE_KILL = 4

_CHECKPOINT_WRITES = frozenset({"PutItem", "UpdateItem"})


def _consume(p: FaultPipeline, log: Path) -> subprocess.Popen[bytes]:
    """``shardflow consume lambda`` through the proxy, until drained."""
    assert p.config.dlq_url is not None
    argv = [sys.executable, "-m", "shardflow", "--log-level", "INFO", "consume", "lambda"]
    argv += ["--stream", p.stream, "--function-name", p.config.function_name]
    argv += ["--checkpoint-table", p.checkpoint_table, "--bucket", p.config.bucket]
    argv += ["--format", "jsonl", "--dlq-url", p.config.dlq_url, "--endpoint-url", p.proxy.url]
    argv += ["--poll-interval", "0.05", "--shard-sync-interval", "0.5", "--batch-size", "1"]
    argv += ["--until-drained", "--duration", str(RUN_TIMEOUT), "--no-create-resources"]
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "SHARDFLOW_IDEMPOTENCY_TABLE": "none",
        "SHARDFLOW_ATTEMPTS_TABLE": str(p.config.attempts_table),
        "SHARDFLOW_MAX_ATTEMPTS": str(p.config.max_attempts),
    }
    with log.open("ab") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait(proc: subprocess.Popen[bytes], log: Path) -> int:
    try:
        return proc.wait(timeout=RUN_TIMEOUT + 30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"consume lambda still running:\n{log.read_text()[-3000:]}") from None


def test_sigkill_between_s3_write_and_checkpoint(
    fault_pipeline: FaultPipeline, tmp_path: Path
) -> None:
    """Killed after S3 PUTs, before the checkpoint covering them; restarted: exactly once."""
    p = fault_pipeline
    started = time.monotonic()
    produced = p.produce(EVENTS)
    log = tmp_path / "consume-lambda.log"
    victim: list[subprocess.Popen[bytes]] = []
    #: The S3 PUTs (paths) before and after the kill.
    puts: list[list[str]] = [[], []]

    def checkpoint_after_puts(request: Request) -> bool:
        if request.is_s3_put and request.path.startswith(f"/{p.config.bucket}/"):
            puts[1 if victim[0].poll() is not None else 0].append(request.path)
            return False
        return (
            len(puts[0]) >= PUTS_BEFORE_KILL
            and request.operation in _CHECKPOINT_WRITES
            and request.json().get("TableName") == p.checkpoint_table
        )

    def kill(_request: Request) -> None:
        victim[0].send_signal(signal.SIGKILL)
        victim[0].wait()  # dead before its checkpoint could land

    hook = p.proxy.on(checkpoint_after_puts, kill, drop=True)
    victim.append(_consume(p, log))
    code = _wait(victim[0], log)
    assert hook.fired == 1, f"the consumer exited ({code}) without reaching the kill"
    assert code == -signal.SIGKILL
    in_s3_at_kill = sum(p.output_ids().values())
    assert 0 < in_s3_at_kill < EVENTS, f"{in_s3_at_kill} events in S3 at the kill"

    restarted = _consume(p, log)
    assert _wait(restarted, log) == 0, log.read_text()[-3000:]
    # The batch the lost checkpoint covered was read and written again, onto its object.
    assert set(puts[0]) & set(puts[1]), "nothing written before the kill was written again"
    p.account("SIGKILL between S3 write and checkpoint", RUNTIME, produced, started=started)
