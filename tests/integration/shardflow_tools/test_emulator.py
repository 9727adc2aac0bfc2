"""The embedded emulator answers the AWS APIs shardflow uses, on loopback."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shardflow_tools.bootstrap import (
    BootstrapReport,
    BootstrapSpec,
    QueueSpec,
    StreamSpec,
    bootstrap,
)
from shardflow_tools.emulator import EmbeddedEmulator, EmulatorError, EmulatorProcess
from shardflow_tools.emulator_h2 import Http2EmulatorProcess


def test_fixture_endpoint_serves_kinesis(
    aws_client: Callable[[str], Any],
    unique_name: Callable[[str], str],
    provision: Callable[..., BootstrapReport],
) -> None:
    kinesis = aws_client("kinesis")
    name = unique_name("stream")
    provision(StreamSpec(name, shard_count=2))
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
            spec = BootstrapSpec(key=None, queues=(QueueSpec("q"),))
            url = bootstrap(spec, clients={"sqs": sqs}).queue_urls["q"]
            assert "q" in url


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port someone else listens on (and never answers)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_in_process_emulator_on_a_taken_port_fails_at_once(taken_port: int) -> None:
    # moto's threaded server would wait forever for its server thread to bind.
    with pytest.raises(EmulatorError, match=f"cannot listen on 127.0.0.1:{taken_port}"):
        EmbeddedEmulator(port=taken_port).start()


@pytest.mark.parametrize("emu_cls", [EmulatorProcess, Http2EmulatorProcess])
def test_a_child_that_cannot_serve_fails_fast_with_its_error(
    emu_cls: type[EmulatorProcess], taken_port: int
) -> None:
    # "exited with": the wait noticed the dead child instead of timing out.
    with pytest.raises(EmulatorError, match=r"exited with 1.*cannot listen"):
        emu_cls(port=taken_port).start()


def test_a_suspended_versioned_bucket_can_be_emptied(
    aws_client: Callable[[str], Any], unique_name: Callable[[str], str]
) -> None:
    """What terraform destroy does to the sink's bucket: versioning suspended, then every
    version deleted, delete markers of the sink's staged objects included (moto 5.2 answered
    500 there; shardflow_tools.emulator_fixes)."""
    s3 = aws_client("s3")
    bucket = unique_name("bucket")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="_staging/x", Body=b"1", IfNoneMatch="*")
    s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "_staging/x"})
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "_staging/x"}]})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    listing = s3.list_object_versions(Bucket=bucket)
    for item in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
    left = s3.list_object_versions(Bucket=bucket)
    assert not left.get("Versions") and not left.get("DeleteMarkers")
    s3.delete_bucket(Bucket=bucket)
