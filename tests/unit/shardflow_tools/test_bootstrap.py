"""The bootstrap's specs and its error paths, without an emulator (botocore Stubber)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from shardflow import resources
from shardflow.errors import ConfigError
from shardflow_tools.bootstrap import (
    BootstrapError,
    BootstrapSpec,
    IndexSpec,
    KeySpec,
    StreamSpec,
    TableSpec,
    bootstrap,
    default_spec,
)
from shardflow_tools.cli import main


def test_default_spec_uses_the_shared_resource_names() -> None:
    spec = default_spec()
    assert spec.key == KeySpec(resources.KMS_KEY_ALIAS)
    assert [s.name for s in spec.streams] == [resources.STREAM]
    assert [b.name for b in spec.buckets] == [resources.BUCKET]
    queues = [q.name for q in spec.queues]
    assert queues == [resources.DEAD_LETTER_QUEUE, resources.ON_FAILURE_QUEUE]
    tables = {t.name: t for t in spec.tables}
    idem = tables[resources.IDEMPOTENCY_TABLE]
    assert (idem.hash_key, idem.ttl_attribute) == ("id", "expiration")
    checkpoints = tables[resources.CHECKPOINT_TABLE]
    assert checkpoints.key_schema == (("consumer", "HASH"), ("shard_id", "RANGE"))
    assert all(t.encrypted and t.point_in_time_recovery for t in spec.tables)


def test_prefix_keeps_the_kcl_table_naming() -> None:
    spec = default_spec().with_prefix("dev-")
    names = {t.name for t in spec.tables}
    assert "dev-shardflow-kcl" in names
    assert "dev-shardflow-kcl-CoordinatorState" in names
    assert spec.key is not None
    assert spec.key.alias == "alias/dev-shardflow"
    assert spec.buckets[0].name == "dev-shardflow-output"
    with pytest.raises(ConfigError, match="prefix"):
        default_spec().with_prefix("Dev-")


def test_table_attributes_cover_table_and_index_keys() -> None:
    table = TableSpec(
        "t", hash_key="leaseKey", indexes=(IndexSpec("i", "leaseOwner", range_key="leaseKey"),)
    )
    assert table.attributes == ("leaseKey", "leaseOwner")
    assert table.key_schema == (("leaseKey", "HASH"),)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: StreamSpec("s", shard_count=0), "StreamSpec.shard_count"),
        (lambda: StreamSpec("s", retention_hours=12), "StreamSpec.retention_hours"),
        (lambda: KeySpec("shardflow"), "KeySpec.alias"),
        (lambda: KeySpec("alias/aws/kinesis"), "KeySpec.alias"),
    ],
)
def test_bad_specs_name_the_field(make: Any, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        make()
    assert info.value.field == field


def test_stream_mode_follows_the_shard_count() -> None:
    assert StreamSpec("s", shard_count=None).mode == "ON_DEMAND"
    assert StreamSpec("s", shard_count=3).mode == "PROVISIONED"


@pytest.fixture
def dynamodb() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        yield client, stub
    stub.assert_no_pending_responses()


_TABLE = {
    "TableName": "tbl",
    "TableStatus": "ACTIVE",
    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
    "SSEDescription": {"Status": "ENABLED"},
}


def test_an_operation_the_endpoint_lacks_is_reported_not_fatal(
    dynamodb: tuple[Any, Stubber],
) -> None:
    client, stub = dynamodb
    stub.add_response("describe_table", {"Table": _TABLE})
    stub.add_response("describe_table", {"Table": _TABLE})
    stub.add_response(
        "describe_time_to_live",
        {"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": "exp"}},
    )
    stub.add_client_error(
        "describe_continuous_backups", "UnknownOperationException", "not implemented"
    )
    spec = BootstrapSpec(key=None, tables=(TableSpec("tbl", hash_key="id", ttl_attribute="exp"),))
    report = bootstrap(spec, client_factory=lambda _service: client)
    (outcome,) = report
    assert outcome.outcome == "unsupported"
    assert "PITR not supported" in outcome.detail


def test_other_errors_name_the_resource_and_the_aws_code(dynamodb: tuple[Any, Stubber]) -> None:
    client, stub = dynamodb
    stub.add_client_error("describe_table", "ResourceNotFoundException", "no table")
    stub.add_client_error("create_table", "AccessDeniedException", "not allowed")
    spec = BootstrapSpec(key=None, tables=(TableSpec("tbl", hash_key="id"),))
    with pytest.raises(BootstrapError) as info:
        bootstrap(spec, client_factory=lambda _service: client)
    assert info.value.resource == "dynamodb table tbl"
    assert info.value.error_code == "AccessDeniedException"
    assert "CreateTable" in str(info.value)


def test_ttl_on_another_attribute_is_an_error(dynamodb: tuple[Any, Stubber]) -> None:
    client, stub = dynamodb
    stub.add_response("describe_table", {"Table": _TABLE})
    stub.add_response("describe_table", {"Table": _TABLE})
    stub.add_response(
        "describe_time_to_live",
        {"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}},
    )
    spec = BootstrapSpec(
        key=None,
        tables=(TableSpec("tbl", hash_key="id", ttl_attribute="expiration", encrypted=False),),
    )
    with pytest.raises(BootstrapError, match=r"'ttl'.*'expiration'"):
        bootstrap(spec, client_factory=lambda _service: client)


def test_table_that_never_becomes_active_times_out() -> None:
    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    creating = {**_TABLE, "TableStatus": "CREATING"}
    with Stubber(client) as stub:
        # More polls than a zero timeout needs: the table stays CREATING whatever the clock.
        for _ in range(100):
            stub.add_response("describe_table", {"Table": creating})
        spec = BootstrapSpec(key=None, tables=(TableSpec("tbl", hash_key="id", encrypted=False),))
        with pytest.raises(BootstrapError, match="not ACTIVE after 0s"):
            bootstrap(spec, client_factory=lambda _service: client, wait_timeout=0.0)


def test_cli_refuses_an_endpoint_that_is_not_local(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bootstrap", "--endpoint-url", "https://kinesis.eu-west-1.amazonaws.com"]) == 2
    assert "refusing" in capsys.readouterr().err
