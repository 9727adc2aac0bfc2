"""Issue 15.4: `consume lambda --until-drained` ended with "0 failed, 0 partial" while
events were dead-lettered; the summary now counts them and warns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from shardflow_tools.cli import main


def test_consume_lambda_counts_dead_letters_and_warns(
    aws_client: Callable[[str], Any],
    unique_name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kinesis, sqs = aws_client("kinesis"), aws_client("sqs")
    stream = unique_name("stream")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=stream, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
    )
    dlq = sqs.create_queue(QueueName=unique_name("dlq"))["QueueUrl"]
    monkeypatch.setenv("SHARDFLOW_DLQ_URL", dlq)
    monkeypatch.setenv("SHARDFLOW_BUCKET", unique_name("out"))
    monkeypatch.setenv("SHARDFLOW_IDEMPOTENCY_TABLE", unique_name("idem"))
    monkeypatch.setenv("SHARDFLOW_ATTEMPTS_TABLE", unique_name("attempts"))
    good = {"specversion": "1.0", "source": "t", "type": "t", "time": "2026-12-04T10:00:00Z"}
    events = [
        {**good, "id": "a"},
        {**good, "id": "b", "time": "not-a-time"},
        {**good, "id": "c"},
    ]
    kinesis.put_records(
        StreamName=stream,
        Records=[{"PartitionKey": e["id"], "Data": orjson.dumps(e)} for e in events],
    )
    argv = ["consume", "lambda", "--stream", stream, "--checkpoint-table", unique_name("cp")]
    argv += ["--poll-interval", "0.05", "--until-drained", "--duration", "120"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert f"1 dead-lettered this run (queue {dlq})" in err
    assert "warning: 1 events were dead-lettered" in err
    assert "shardflow dlq list" in err
