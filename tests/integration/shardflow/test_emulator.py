"""The embedded emulator answers the AWS APIs shardflow uses, on loopback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shardflow.emulator import EmbeddedEmulator, EmulatorProcess


def test_fixture_endpoint_serves_kinesis(
    aws_client: Callable[[str], Any], unique_name: Callable[[str], str]
) -> None:
    kinesis = aws_client("kinesis")
    name = unique_name("stream")
    kinesis.create_stream(StreamName=name, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
    )
    shards = kinesis.list_shards(StreamName=name)["Shards"]
    assert len(shards) == 2
    kinesis.delete_stream(StreamName=name)


def test_thread_and_process_emulators_start_and_stop() -> None:
    import boto3

    for emu_cls in (EmbeddedEmulator, EmulatorProcess):
        with emu_cls() as emu:
            assert emu.endpoint_url.startswith("http://127.0.0.1:")
            sqs = boto3.client(
                "sqs",
                endpoint_url=emu.endpoint_url,
                region_name="us-east-1",
                aws_access_key_id="x",
                aws_secret_access_key="x",
            )
            url = sqs.create_queue(QueueName="q")["QueueUrl"]
            assert "q" in url
