"""Issue 15.4: dead letters are data to act on: `shardflow dlq list|count|show|redrive|purge`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from consumers.deadletter import DeadLetterQueue
from consumers.records import Origin, PoisonRecord
from shardflow import kpl
from shardflow_tools.cli import main


def _poison(stream: str, n: int, reason: str = "handler_failed") -> PoisonRecord:
    origin = Origin(
        stream, "shardId-000000000000", f"{100 + n}", None, f"user-{n}", datetime.now(UTC)
    )
    payload = orjson.dumps({"id": f"e{n}", "type": "t", "data": {"n": n}})
    return PoisonRecord(origin=origin, payload=payload, reason=reason, error=f"boom {n}")  # type: ignore[arg-type]


@pytest.fixture
def dead_letters(
    aws_client: Callable[[str], Any], unique_name: Callable[[str], str]
) -> tuple[str, str]:
    kinesis, sqs = aws_client("kinesis"), aws_client("sqs")
    stream = unique_name("stream")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=stream, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
    )
    url = sqs.create_queue(QueueName=unique_name("dlq"))["QueueUrl"]
    queue = DeadLetterQueue(url, sqs_client=sqs)
    queue.send(_poison(stream, 1))
    queue.send(_poison(stream, 2, reason="invalid_envelope"))
    queue.send(_poison(stream, 3))
    return stream, url


def _ids(out: str) -> dict[str, str]:
    return {line.split()[0]: line.split()[1] for line in out.splitlines()}


def test_list_count_and_show_leave_the_dead_letters_in_place(
    dead_letters: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    stream, url = dead_letters
    assert main(["dlq", "list", "--dlq-url", url]) == 0
    listed = _ids(capsys.readouterr().out)
    assert sorted(listed.values()) == ["handler_failed", "handler_failed", "invalid_envelope"]
    assert main(["dlq", "count", "--dlq-url", url]) == 0
    assert capsys.readouterr().out.strip() == "3"
    some_id = next(i for i, reason in listed.items() if reason == "invalid_envelope")
    assert main(["dlq", "show", some_id, "--dlq-url", url]) == 0
    shown = orjson.loads(capsys.readouterr().out)
    assert shown["payload"] == {"id": "e2", "type": "t", "data": {"n": 2}}
    assert shown["stream"] == stream
    assert shown["partition_key"] == "user-2"
    assert shown["sequence_number"] == "102"
    assert main(["dlq", "list", "--dlq-url", url]) == 0
    assert _ids(capsys.readouterr().out) == listed


def test_redrive_sends_the_chosen_ones_back_to_their_stream(
    dead_letters: tuple[str, str],
    aws_client: Callable[[str], Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream, url = dead_letters
    assert main(["dlq", "redrive", "--reason", "handler_failed", "--dlq-url", url]) == 0
    capsys.readouterr()
    kinesis = aws_client("kinesis")
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert not any(kpl.is_aggregated(r["Data"]) for r in records)
    back = sorted((r["PartitionKey"], orjson.loads(r["Data"])["id"]) for r in records)
    assert back == [("user-1", "e1"), ("user-3", "e3")]
    assert main(["dlq", "list", "--dlq-url", url]) == 0
    assert list(_ids(capsys.readouterr().out).values()) == ["invalid_envelope"]


def test_purge_needs_yes(dead_letters: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    _, url = dead_letters
    assert main(["dlq", "purge", "--dlq-url", url]) == 2
    assert "pass --yes" in capsys.readouterr().err
    assert main(["dlq", "purge", "--yes", "--dlq-url", url]) == 0
    assert main(["dlq", "count", "--dlq-url", url]) == 0
    assert capsys.readouterr().out.strip() == "0"


def test_redrive_without_a_choice_is_a_usage_error(
    dead_letters: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = dead_letters
    assert main(["dlq", "redrive", "--dlq-url", url]) == 2
    assert "IDs, --all or --reason" in capsys.readouterr().err
