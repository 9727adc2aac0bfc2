"""The fault proxy injects what it says, and nothing else, against the real emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
from faultproxy import FaultPlan, FaultProxy, Request

from shardflow_tools.bootstrap import BucketSpec, StreamSpec

pytestmark = pytest.mark.integration

NO_RETRIES = Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=10)


def _client(service: str, url: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", config=NO_RETRIES)


def _stream_records(kinesis: Any, stream: str) -> list[bytes]:
    out: list[bytes] = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        it = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        out += [r["Data"] for r in kinesis.get_records(ShardIterator=it, Limit=10000)["Records"]]
    return out


def test_throttled_put_records_entries_are_not_in_the_stream(
    aws_endpoint: str, provision: Callable[..., Any], unique_name: Callable[[str], str]
) -> None:
    stream = unique_name("stream")
    provision(StreamSpec(stream, shard_count=2))
    with FaultProxy(aws_endpoint, FaultPlan(put_records_entries=0.5, seed=3)) as proxy:
        kinesis = _client("kinesis", proxy.url)
        entries = [{"Data": f"r{i}".encode(), "PartitionKey": f"k{i}"} for i in range(100)]
        answer = kinesis.put_records(StreamName=stream, Records=entries)
    failed = {
        f"r{i}".encode()
        for i, r in enumerate(answer["Records"])
        if r.get("ErrorCode") == "ProvisionedThroughputExceededException"
    }
    assert 20 < len(failed) < 80
    assert answer["FailedRecordCount"] == len(failed)
    assert proxy.injected["PutRecords entry throttled"] == len(failed)
    landed = set(_stream_records(_client("kinesis", aws_endpoint), stream))
    assert landed == {e["Data"] for e in entries} - failed


def test_s3_slow_down_and_lost_answers(
    aws_endpoint: str, provision: Callable[..., Any], unique_name: Callable[[str], str]
) -> None:
    bucket = unique_name("bucket")
    provision(BucketSpec(bucket))
    direct = _client("s3", aws_endpoint)
    with FaultProxy(aws_endpoint, FaultPlan(s3_puts=1.0)) as proxy:
        with pytest.raises(ClientError) as err:
            _client("s3", proxy.url).put_object(Bucket=bucket, Key="a", Body=b"x")
        assert err.value.response["Error"]["Code"] == "SlowDown"
        assert "Contents" not in direct.list_objects_v2(Bucket=bucket)
        proxy.plan = FaultPlan(s3_puts_lost_answer=1.0)
        with pytest.raises(Exception, match=r"Connection|connection|closed"):
            _client("s3", proxy.url).put_object(Bucket=bucket, Key="b", Body=b"y")
    # The PUT whose answer was lost landed.
    assert direct.get_object(Bucket=bucket, Key="b")["Body"].read() == b"y"
    assert proxy.injected == {"S3 PUT 503 SlowDown": 1, "S3 PUT answer lost": 1}


def test_dynamodb_writes_and_get_records_throttled(
    aws_endpoint: str, provision: Callable[..., Any], unique_name: Callable[[str], str]
) -> None:
    stream = unique_name("stream")
    provision(StreamSpec(stream, shard_count=1))
    with FaultProxy(aws_endpoint, FaultPlan(get_records=1.0, dynamodb_writes=1.0)) as proxy:
        kinesis = _client("kinesis", proxy.url)
        shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
        it = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        with pytest.raises(ClientError) as err:
            kinesis.get_records(ShardIterator=it)
        assert err.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
        with pytest.raises(ClientError) as err:
            _client("dynamodb", proxy.url).put_item(TableName="any", Item={"k": {"S": "v"}})
        assert err.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"


def test_outage_refuses_connections_then_listens_on_the_same_port(aws_endpoint: str) -> None:
    with FaultProxy(aws_endpoint) as proxy:
        url = proxy.url
        sqs = _client("sqs", url)
        sqs.list_queues()
        ended = proxy.outage(60)
        with pytest.raises(EndpointConnectionError):
            sqs.list_queues()
        ended.cancel()
        proxy.start()
        assert proxy.url == url
        sqs.list_queues()


def test_expired_iterators_once_per_shard(
    aws_endpoint: str, provision: Callable[..., Any], unique_name: Callable[[str], str]
) -> None:
    stream = unique_name("stream")
    provision(StreamSpec(stream, shard_count=2))
    with FaultProxy(aws_endpoint, FaultPlan(expire_iterators=True)) as proxy:
        kinesis = _client("kinesis", proxy.url)
        for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
            for expected in ("ExpiredIteratorException", None, None):
                it = kinesis.get_shard_iterator(
                    StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
                )["ShardIterator"]
                if expected is None:
                    kinesis.get_records(ShardIterator=it)
                    continue
                with pytest.raises(ClientError) as err:
                    kinesis.get_records(ShardIterator=it)
                assert err.value.response["Error"]["Code"] == expected
    assert proxy.injected == {"shard iterator expired": 2}
    assert len(proxy.expired_shards) == 2


def test_a_hook_runs_before_forwarding_and_may_drop_the_request(
    aws_endpoint: str, provision: Callable[..., Any], unique_name: Callable[[str], str]
) -> None:
    bucket = unique_name("bucket")
    provision(BucketSpec(bucket))
    seen: list[str] = []
    ran: list[str] = []

    def second_put(request: Request) -> bool:
        if request.is_s3_put:
            seen.append(request.path)
        return len(seen) == 2

    with FaultProxy(aws_endpoint) as proxy:
        hook = proxy.on(second_put, lambda request: ran.append(request.path), drop=True)
        s3 = _client("s3", proxy.url)
        s3.put_object(Bucket=bucket, Key="a", Body=b"1")
        with pytest.raises(Exception, match=r"Connection|connection|closed"):
            s3.put_object(Bucket=bucket, Key="b", Body=b"2")
        s3.put_object(Bucket=bucket, Key="c", Body=b"3")
    assert ran == [f"/{bucket}/b"]
    assert hook.fired == 1
    assert seen == [f"/{bucket}/a", f"/{bucket}/b", f"/{bucket}/c"]  # predicates see all
    listed = _client("s3", aws_endpoint).list_objects_v2(Bucket=bucket)["Contents"]
    assert {o["Key"] for o in listed} == {"a", "c"}  # the dropped PUT never landed


def test_http2_connections_pass_through_to_an_h2c_emulator(aws_endpoint: str) -> None:
    """The KCL's Kinesis client speaks h2c: the proxy splices such a connection through
    (``aws_endpoint``: the credentials in the environment)."""
    from consumers.kcl.probe import EndpointProbeError, probe_h2c
    from shardflow_tools.emulator_h2 import Http2EmulatorProcess

    with Http2EmulatorProcess() as emu, FaultProxy(emu.endpoint_url) as proxy:
        probe_h2c(proxy.url)  # raises unless the first frame back is SETTINGS
        _client("sqs", proxy.url).list_queues()  # HTTP/1.1 still goes through the faults
        assert proxy.injected == {"HTTP/2 connection passed through": 1}
        proxy.stop()
        with pytest.raises(EndpointProbeError):
            probe_h2c(proxy.url)
