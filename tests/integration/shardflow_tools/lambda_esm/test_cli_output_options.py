"""``consume lambda --bucket --prefix --format --endpoint-url --region`` reach the default
handler and the runner's clients as arguments: the process environment is left as it was
(issue 10.3)."""

from __future__ import annotations

import os
from collections.abc import Callable

import orjson
import pytest

from shardflow import aws, settings
from shardflow_tools.cli import main

_OUTPUT_VARIABLES = (settings.BUCKET, settings.OUTPUT_PREFIX, settings.OUTPUT_FORMAT)


def test_the_options_configure_the_run_without_touching_the_environment(
    aws_endpoint: str,
    unique_name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    region = "eu-west-2"  # neither the environment's region nor the default
    kinesis = aws.client("kinesis", region=region, endpoint_url=aws_endpoint)
    stream, bucket = unique_name("stream"), unique_name("out")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=stream, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
    )
    event = {"specversion": "1.0", "source": "t", "type": "t", "time": "2026-12-04T10:00:00Z"}
    kinesis.put_records(
        StreamName=stream,
        Records=[{"PartitionKey": i, "Data": orjson.dumps({**event, "id": i})} for i in "abc"],
    )
    monkeypatch.delenv(settings.ENDPOINT_URL)
    monkeypatch.setenv(settings.REGION, "us-west-1")
    for name in (*_OUTPUT_VARIABLES, settings.DLQ_URL):
        monkeypatch.delenv(name, raising=False)
    before = dict(os.environ)

    argv = ["consume", "lambda", "--stream", stream, "--checkpoint-table", unique_name("cp")]
    argv += ["--poll-interval", "0.05", "--until-drained", "--duration", "120"]
    argv += ["--bucket", bucket, "--prefix", "out", "--format", "jsonl"]
    argv += ["--endpoint-url", aws_endpoint, "--region", region]
    assert main(argv) == 0

    assert dict(os.environ) == before
    s3 = aws.client("s3", region=region, endpoint_url=aws_endpoint)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="out/")["Contents"]]
    assert [k for k in keys if k.endswith(".json.gz")], keys
