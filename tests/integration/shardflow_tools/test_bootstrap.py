"""``shardflow bootstrap`` against a real endpoint (the embedded emulator by default, or
LocalStack when ``AWS_ENDPOINT_URL`` points at it): what it creates exists with the keys,
TTL, encryption and settings the spec declares, and a second run changes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from shardflow import resources
from shardflow_tools.bootstrap import (
    BootstrapError,
    BootstrapSpec,
    TableSpec,
    bootstrap,
    default_spec,
)
from shardflow_tools.cli import main


@pytest.fixture
def spec(unique_name: Callable[[str], str]) -> BootstrapSpec:
    return default_spec().with_prefix(unique_name("boot") + "-")


def test_bootstrap_creates_every_resource_as_specified(
    aws_endpoint: str, aws_client: Callable[[str], Any], spec: BootstrapSpec
) -> None:
    report = bootstrap(spec, endpoint_url=aws_endpoint)

    assert report.by_outcome("created")[0] == f"kms key {spec.key.alias}"  # type: ignore[union-attr]
    assert len(report.by_outcome("created")) == 1 + 1 + 6 + 1 + 2
    key_arn = report.key_arn
    assert key_arn is not None

    kinesis = aws_client("kinesis")
    (stream,) = spec.streams
    summary = kinesis.describe_stream_summary(StreamName=stream.name)["StreamDescriptionSummary"]
    assert summary["StreamStatus"] == "ACTIVE"
    assert summary["OpenShardCount"] == 2
    assert summary["StreamModeDetails"]["StreamMode"] == "PROVISIONED"
    assert summary["EncryptionType"] == "KMS"
    assert summary["KeyId"] == key_arn

    ddb = aws_client("dynamodb")
    for table in spec.tables:
        desc = ddb.describe_table(TableName=table.name)["Table"]
        keys = [(k["AttributeName"], k["KeyType"]) for k in desc["KeySchema"]]
        assert tuple(keys) == table.key_schema, table.name
        assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert desc["SSEDescription"]["Status"] == "ENABLED"
        assert desc["SSEDescription"]["KMSMasterKeyArn"] == key_arn
        ttl = ddb.describe_time_to_live(TableName=table.name)["TimeToLiveDescription"]
        if table.ttl_attribute:
            assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": table.ttl_attribute}
        else:
            assert ttl["TimeToLiveStatus"] == "DISABLED"
        backups = ddb.describe_continuous_backups(TableName=table.name)
        pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"
    lease = ddb.describe_table(TableName=spec.tables[3].name)["Table"]
    (index,) = lease["GlobalSecondaryIndexes"]
    assert index["IndexName"] == resources.KCL_LEASE_OWNER_INDEX
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["leaseOwner", "leaseKey"]

    s3 = aws_client("s3")
    (bucket,) = spec.buckets
    assert s3.get_bucket_versioning(Bucket=bucket.name)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=bucket.name)["ServerSideEncryptionConfiguration"][
        "Rules"
    ][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == key_arn
    block = s3.get_public_access_block(Bucket=bucket.name)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    if aws_endpoint.startswith("https://"):
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket.name)["Policy"])
        sids = {s["Sid"] for s in policy["Statement"]}
        assert sids == {"DenyInsecureTransport", "DenyTlsOlderThan12"}
    else:
        # A TLS-only policy would deny every request to a plain-HTTP endpoint.
        (outcome,) = (o for o in report if o.resource == f"s3 bucket {bucket.name}")
        assert "TLS-only policy left out" in outcome.detail
        s3.put_object(Bucket=bucket.name, Key="events/k", Body=b"v")
        assert s3.get_object(Bucket=bucket.name, Key="events/k")["Body"].read() == b"v"

    sqs = aws_client("sqs")
    for queue in spec.queues:
        url = report.queue_urls[queue.name]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attrs["KmsMasterKeyId"] == key_arn
        assert attrs["MessageRetentionPeriod"] == "1209600"


def test_second_bootstrap_changes_nothing(aws_endpoint: str, spec: BootstrapSpec) -> None:
    first = bootstrap(spec, endpoint_url=aws_endpoint)
    second = bootstrap(spec, endpoint_url=aws_endpoint)
    assert first.changed
    assert not second.changed
    assert second.by_outcome("exists") == [o.resource for o in first]
    assert second.key_arn == first.key_arn
    assert second.queue_urls == first.queue_urls


def test_existing_table_gets_the_ttl_it_lacks(
    aws_endpoint: str, aws_client: Callable[[str], Any], unique_name: Callable[[str], str]
) -> None:
    name = unique_name("idem")
    ddb = aws_client("dynamodb")
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    spec = BootstrapSpec(
        key=None,
        tables=(TableSpec(name, hash_key="id", ttl_attribute="expiration", encrypted=False),),
    )
    report = bootstrap(spec, endpoint_url=aws_endpoint)
    (outcome,) = report
    assert outcome.outcome == "updated"
    assert "TTL on expiration" in outcome.detail
    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiration"


def test_table_with_other_keys_is_an_error_naming_it(
    aws_endpoint: str, aws_client: Callable[[str], Any], unique_name: Callable[[str], str]
) -> None:
    name = unique_name("ckpt")
    aws_client("dynamodb").create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "shard", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "shard", "KeyType": "HASH"}],
    )
    spec = BootstrapSpec(
        key=None, tables=(TableSpec(name, hash_key="consumer", range_key="shard_id"),)
    )
    with pytest.raises(BootstrapError, match="key schema") as info:
        bootstrap(spec, endpoint_url=aws_endpoint)
    assert info.value.resource == f"dynamodb table {name}"


def test_cli_bootstraps_and_prints_one_line_per_resource(
    aws_endpoint: str,
    unique_name: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    prefix = unique_name("cli") + "-"
    args = ["bootstrap", "--endpoint-url", aws_endpoint, "--prefix", prefix]
    assert main(args) == 0
    # One line per resource, then (after a blank line) names, ARNs, URLs and export lines.
    lines = capsys.readouterr().out.split("\n\n", 1)[0].splitlines()
    assert len(lines) == 11
    assert all(line.startswith("created") for line in lines)
    assert f"kinesis stream {prefix}{resources.STREAM}" in "\n".join(lines)
    assert main(args) == 0
    again = capsys.readouterr().out.split("\n\n", 1)[0].splitlines()
    assert len(again) == 11
    assert all(line.startswith("exists") for line in again)
