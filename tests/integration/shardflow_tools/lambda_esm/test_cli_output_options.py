"""``consume lambda --bucket --prefix --format --endpoint-url --region`` reach the default
handler and the runner's clients as arguments: the process environment is left as it was
(issue 10.3); a handler of the user's own gets them as its environment."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

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


def test_a_handler_of_ones_own_reads_the_options_as_its_environment(
    aws_endpoint: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As Lambda hands a function its configuration: the user's module reads variables."""
    kinesis = aws.client("kinesis", endpoint_url=aws_endpoint)
    stream, bucket = unique_name("stream"), unique_name("out")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=stream, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
    )
    kinesis.put_records(StreamName=stream, Records=[{"PartitionKey": "k", "Data": b"x"}])
    seen = tmp_path / "seen.json"
    module = unique_name("handler").replace("-", "_")
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            f"""
            import json, os

            def handle(event, context):
                names = ("SHARDFLOW_BUCKET", "SHARDFLOW_OUTPUT_FORMAT", "AWS_ENDPOINT_URL")
                with open({str(seen)!r}, "w") as f:
                    json.dump({{n: os.environ.get(n) for n in names}}, f)
                return {{"batchItemFailures": []}}
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(settings.ENDPOINT_URL)
    for name in _OUTPUT_VARIABLES:
        monkeypatch.delenv(name, raising=False)

    argv = ["consume", "lambda", "--stream", stream, "--handler", f"{module}:handle"]
    argv += ["--checkpoint-table", unique_name("cp"), "--poll-interval", "0.05"]
    argv += ["--until-drained", "--duration", "60", "--bucket", bucket, "--format", "jsonl"]
    argv += ["--endpoint-url", aws_endpoint]
    assert main(argv) == 0

    assert orjson.loads(seen.read_bytes()) == {
        settings.BUCKET: bucket,
        settings.OUTPUT_FORMAT: "jsonl",
        settings.ENDPOINT_URL: aws_endpoint,
    }
