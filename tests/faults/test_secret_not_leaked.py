"""The security check of issue 12: a recognisable dummy secret access key, given to the
pipeline as a user gives theirs (``AWS_SECRET_ACCESS_KEY``), appears in no log line, no
report, no S3 object and no dead-letter message.

Two runs, as processes with DEBUG logging (botocore's own logs included): ``shardflow demo``
(producer -> event source mapping -> Lambda handler -> S3 -> query, and its report), and
``shardflow consume lambda`` over a stream with poison pills (dead letters).
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
from harness import FaultPipeline, corrupt_aggregate, event_mix

#: A run takes ~5-20 s on an idle 2-core machine.
RUN_TIMEOUT = 240.0


def _env(endpoint: str, secret: str) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "AKIAFAULTSDUMMYKEYID",
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_REGION": "us-east-1",
        "SHARDFLOW_OUTPUT_FORMAT": "jsonl",
    }


def _run(argv: list[str], env: dict[str, str]) -> str:
    """Run ``shardflow`` with DEBUG logs; everything it printed (it must succeed)."""
    done = subprocess.run(
        [sys.executable, "-m", "shardflow", "--log-level", "DEBUG", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    return output


def _objects(s3: Any, bucket: str) -> dict[str, bytes]:
    """Every object of ``bucket`` (data, manifests, error objects, markers), by key."""
    paginator = s3.get_paginator("list_objects_v2")
    keys = [
        o["Key"] for page in paginator.paginate(Bucket=bucket) for o in page.get("Contents", [])
    ]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def _messages(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message of the queue, whole (body, attributes, message attributes), drained."""
    out: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return out
        for message in messages:
            out.append(message)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _leaks(secret: str, texts: dict[str, bytes]) -> list[str]:
    """The names of the texts holding ``secret`` (also base64-encoded: a payload field)."""
    needles = (secret.encode(), base64.b64encode(secret.encode()))
    return [name for name, text in texts.items() if any(n in text for n in needles)]


def _check_probe(secret: str) -> None:
    # The check itself finds the secret where it is: not a test that cannot fail.
    assert _leaks(secret, {"probe": f"x{secret}y".encode()}) == ["probe"]
    assert _leaks(secret, {"probe": base64.b64encode(secret.encode())}) == ["probe"]


def test_a_dummy_secret_key_is_in_no_log_report_object_or_dead_letter(
    fault_pipeline: FaultPipeline, tmp_path: Path
) -> None:
    p = fault_pipeline
    secret = f"SHARDFLOWdummySECRET{uuid.uuid4().hex}"
    _check_probe(secret)
    env = _env(p.direct, secret)
    s3 = p.client("s3", through_proxy=False)

    demo_stream = f"sf-secret-{uuid.uuid4().hex[:10]}"
    report = _run(
        ["demo", "--events", "200", "--shards", "2", "--stream", demo_stream, "--keep"], env
    )
    assert "botocore" in report, "DEBUG logs (botocore's included) were not on"
    demo_objects = _objects(s3, demo_stream)  # the demo writes into a bucket named as its stream
    assert demo_objects, "the demo wrote nothing"

    p.produce(300)
    p.put_raw(
        [
            (b"\xff\xfenot json at all", "user-1"),
            (corrupt_aggregate([e for e, _ in event_mix(3, start=900_000)]), "user-2"),
            (orjson.dumps({"id": "evt-no-type", "source": "faults/mix", "data": {}}), "user-3"),
        ]
    )
    assert p.config.dlq_url is not None
    consume = ["consume", "lambda", "--stream", p.stream, "--bucket", p.config.bucket]
    consume += ["--format", "jsonl", "--dlq-url", p.config.dlq_url, "--until-drained"]
    consume += ["--function-name", p.config.function_name, "--checkpoint-table", p.checkpoint_table]
    consume += ["--duration", str(RUN_TIMEOUT), "--no-create-resources", "--poll-interval", "0.05"]
    log = _run(
        consume,
        {
            **env,
            "SHARDFLOW_IDEMPOTENCY_TABLE": "none",
            "SHARDFLOW_ATTEMPTS_TABLE": str(p.config.attempts_table),
            "SHARDFLOW_MAX_ATTEMPTS": "1",
        },
    )
    letters = _messages(p.client("sqs", through_proxy=False), p.config.dlq_url)
    assert len(letters) == 3, f"{len(letters)} dead letters, 3 poison pills put"
    objects = _objects(s3, p.config.bucket)
    assert any("/_manifests/" in key for key in objects), f"no manifest in {sorted(objects)}"

    texts = {
        "the demo's output (logs and report)": report.encode(),
        "consume lambda's log": log.encode(),
        **{f"s3://{demo_stream}/{k}": v for k, v in demo_objects.items()},
        **{f"s3://{p.config.bucket}/{k}": v for k, v in objects.items()},
        **{f"dead letter {i}": orjson.dumps(m, default=str) for i, m in enumerate(letters)},
    }
    leaks = _leaks(secret, texts)
    assert not leaks, f"the secret access key is in: {leaks}"
