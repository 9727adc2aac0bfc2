"""The HTTP/2 emulator answers HTTP/2 with prior knowledge (the KCL) and HTTP/1.1 (boto3)."""

from __future__ import annotations

import socket
from urllib.parse import urlparse

import boto3
import h2.connection
import h2.events
import pytest

from shardflow import aws
from shardflow_tools.bootstrap import BootstrapSpec, BucketSpec, StreamSpec, bootstrap
from shardflow_tools.emulator_h2 import Http2EmulatorProcess


def _h2_get(url: str, path: str) -> tuple[int, bytes]:
    """One GET over cleartext HTTP/2 with prior knowledge, as the KCL's Netty client sends."""
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as sock:
        conn = h2.connection.H2Connection()
        conn.initiate_connection()
        conn.send_headers(
            1,
            [
                (":method", "GET"),
                (":path", path),
                (":scheme", "http"),
                (":authority", parsed.netloc),
            ],
            end_stream=True,
        )
        sock.sendall(conn.data_to_send())
        status, body = 0, b""
        while True:
            data = sock.recv(65536)
            assert data, "server closed the HTTP/2 connection before answering"
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    status = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2.events.DataReceived):
                    body += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, 1)
                elif isinstance(event, h2.events.StreamEnded):
                    return status, body
            sock.sendall(conn.data_to_send())


def test_http2_emulator_serves_both_protocols_on_one_port() -> None:
    with Http2EmulatorProcess() as emu:
        kinesis = boto3.client(
            "kinesis",
            endpoint_url=emu.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        spec = BootstrapSpec(key=None, streams=(StreamSpec("h2-stream", shard_count=1),))
        bootstrap(spec, clients={"kinesis": kinesis})
        status, body = _h2_get(emu.endpoint_url, "/moto-api/data.json")
        assert status == 200
        assert b"h2-stream" in body


def test_responses_without_a_body_reach_the_client() -> None:
    # HEAD answers have no body: hypercorn's WSGI bridge used to turn them into 500s, which
    # broke `shardflow bootstrap` (HeadBucket) against `shardflow local --http2`.
    with Http2EmulatorProcess() as emu:
        s3 = aws.client("s3", endpoint_url=emu.endpoint_url, region="us-east-1")
        bootstrap(BootstrapSpec(key=None, buckets=(BucketSpec("h2-bucket"),)), clients={"s3": s3})
        s3.put_object(Bucket="h2-bucket", Key="k", Body=b"v")
        assert s3.head_bucket(Bucket="h2-bucket")["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert s3.head_object(Bucket="h2-bucket", Key="k")["ContentLength"] == 1
        with pytest.raises(s3.exceptions.ClientError, match="404"):
            s3.head_object(Bucket="h2-bucket", Key="missing")
