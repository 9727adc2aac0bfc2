"""A local run creates its resources through bootstrap and hands the handler its settings
as arguments: the process environment is left as it was."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from readback import jsonl_rows

from consumers.lambda_handler import HandlerConfig
from shardflow import envelope, resources, settings
from shardflow_tools.bootstrap import BootstrapReport, StreamSpec
from shardflow_tools.cli import main
from shardflow_tools.lambda_esm import CheckpointStore, MappingConfig, RunnerOptions
from shardflow_tools.lambda_esm.local import prepare_local_run

QUEUE_URL = "http://127.0.0.1:4566/123456789012/{name}"


def test_prepare_local_run_creates_what_the_run_uses(
    aws_endpoint: str, aws_client: Callable[[str], Any], unique_name: Callable[[str], str]
) -> None:
    failures = unique_name("failures")
    handler = HandlerConfig(
        bucket=unique_name("bucket"), idempotency_table=None, attempts_table=unique_name("att")
    )
    options = RunnerOptions(checkpoint_table=unique_name("cps"))
    before = dict(os.environ)
    prepared = prepare_local_run(
        config=MappingConfig(on_failure_queue_url=QUEUE_URL.format(name=failures)),
        options=options,
        handler=handler,
        create=True,
        endpoint_url=aws_endpoint,
    )
    assert dict(os.environ) == before
    assert prepared is not None
    dlq = aws_client("sqs").get_queue_url(QueueName=resources.DEAD_LETTER_QUEUE)["QueueUrl"]
    assert prepared.dlq_url == dlq
    aws_client("sqs").get_queue_url(QueueName=failures)
    aws_client("s3").head_bucket(Bucket=handler.bucket)
    ddb = aws_client("dynamodb")
    for table in (options.checkpoint_table, handler.attempts_table):
        assert ddb.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE"


def test_prepare_local_run_creates_nothing_when_told_not_to(
    aws_endpoint: str, aws_client: Callable[[str], Any], unique_name: Callable[[str], str]
) -> None:
    handler = HandlerConfig(bucket=unique_name("bucket"))
    options = RunnerOptions(checkpoint_table=unique_name("cps"))
    prepared = prepare_local_run(
        config=MappingConfig(),
        options=options,
        handler=handler,
        create=False,
        endpoint_url=aws_endpoint,
    )
    assert prepared is handler
    tables = aws_client("dynamodb").list_tables()["TableNames"]
    assert options.checkpoint_table not in tables


def test_consume_lambda_gives_the_default_handler_its_settings_as_arguments(
    aws_client: Callable[[str], Any],
    unique_name: Callable[[str], str],
    provision: Callable[..., BootstrapReport],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream, bucket, table = unique_name("stream"), unique_name("bucket"), unique_name("cps")
    provision(StreamSpec(stream, shard_count=1))
    ids = [f"ev-{i}" for i in range(12)]
    aws_client("kinesis").put_records(
        StreamName=stream,
        Records=[
            {
                "PartitionKey": "k",
                "Data": envelope.encode(
                    envelope.build({"id": i, "type": "t", "data": {}}, default_source="tests")
                ),
            }
            for i in ids
        ],
    )
    for name in (settings.LAMBDA_FUNCTION_NAME, settings.DLQ_URL):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(settings.BUCKET, bucket)
    monkeypatch.setenv(settings.OUTPUT_FORMAT, "jsonl")
    monkeypatch.setenv(settings.IDEMPOTENCY_TABLE, "off")
    monkeypatch.setenv(settings.ATTEMPTS_TABLE, unique_name("att"))
    before = dict(os.environ)
    code = main(
        [
            "consume",
            "lambda",
            "--stream",
            stream,
            "--function-name",
            "fn-local",
            "--checkpoint-table",
            table,
            "--poll-interval",
            "0.05",
            "--until-drained",
            "--duration",
            "60",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert dict(os.environ) == before
    assert sorted(row["id"] for row in jsonl_rows(aws_client("s3"), bucket)) == sorted(ids)
    store = CheckpointStore(
        table, consumer="fn-local", dynamodb_client=aws_client("dynamodb"), owner="test"
    )
    assert list(store.all()) == ["shardId-000000000000"]
