"""The consumer roles allow exactly the calls the consumers make.

The AWS calls are read from the code, not restated: every S3, SQS and DynamoDB operation
that the deployed Lambda handler's modules (and powertools' idempotency store) call, and for
the KCL role the operations the KCL 3 daemon's jar can issue. Each role statement is then
compared with them, action by action and resource by resource, so a new call fails here
until the role allows it, and a permission no code uses fails until it is removed.
"""

from __future__ import annotations

import ast
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name
from terraform_model import REPO, Instance, Resource, is_unknown

from shardflow import resources, settings

# --- Reading the calls from the code ------------------------------------------------------

#: Operations whose IAM actions are not the operation's own name.
_ACTIONS_OF = {
    ("s3", "ListObjectsV2"): ("s3:ListBucket",),
    ("s3", "DeleteObjects"): ("s3:DeleteObject",),
    # HeadObject is authorised by GetObject; CopyObject by GetObject on the source and
    # PutObject on the destination (the sink copies staged objects within its bucket).
    ("s3", "HeadObject"): ("s3:GetObject",),
    ("s3", "CopyObject"): ("s3:GetObject", "s3:PutObject"),
    ("sqs", "SendMessageBatch"): ("sqs:SendMessage",),
    # IAM has no TransactWriteItems action: each item is authorised by its own operation's
    # action, and the batch idempotency store's transactions hold only Puts (its locks).
    ("dynamodb", "TransactWriteItems"): ("dynamodb:PutItem",),
}


@cache
def _operations(services: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """boto3 method name -> (service, operation) for the clients ``services``."""
    session = botocore.session.get_session()
    out: dict[str, tuple[str, str]] = {}
    for service in services:
        for operation in session.get_service_model(service).operation_names:
            method = xform_name(operation)
            assert method not in out, f"{method} is an operation of {out[method][0]} and {service}"
            out[method] = (service, operation)
    return out


def _iam_actions(service: str, operation: str) -> tuple[str, ...]:
    return _ACTIONS_OF.get((service, operation), (f"{service}:{operation}",))


def boto3_calls(paths: Iterable[Path], services: tuple[str, ...]) -> dict[str, set[str]]:
    """IAM action -> the files whose code calls an operation needing it."""
    operations = _operations(services)
    calls: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                found = operations.get(node.func.attr)
                if found is not None:
                    for action in _iam_actions(*found):
                        calls.setdefault(action, set()).add(path.name)
    return calls


def _package_files(*patterns: str, exclude: tuple[str, ...] = ()) -> list[Path]:
    files = {p for pattern in patterns for p in REPO.glob(pattern)}
    return sorted(p for p in files if not any(p.match(x) for x in exclude))


def _powertools_idempotency_store() -> Path:
    from aws_lambda_powertools.utilities.idempotency.persistence import dynamodb

    return Path(dynamodb.__file__)


#: What the deployed function runs: the consumer core and the handler. Not the local event
#: source mapping runner (shardflow_tools.lambda_esm), the KCL consumer, the local query, nor
#: lambda_handler/resources.py, which creates tables on a local endpoint only.
HANDLER_FILES = [
    *_package_files(
        "consumers/*.py",
        "consumers/sink/*.py",
        "consumers/lambda_handler/*.py",
        "consumers/idempotency/*.py",
        # Local-only or command-line helpers the function never imports.
        exclude=(
            "consumers/lambda_handler/resources.py",
            "consumers/localquery.py",
            "consumers/deadletter_queue.py",
            "consumers/output_options.py",
        ),
    ),
    _powertools_idempotency_store(),
]
KCL_PROCESSOR_FILES = _package_files("consumers/*.py", "consumers/sink/*.py", "consumers/kcl/*.py")
_DATA_SERVICES = ("s3", "sqs", "dynamodb")


def test_the_code_scan_finds_the_calls_it_is_about() -> None:
    # Not vacuous: the sink's, the dead letters' and the attempts' calls are all found.
    calls = boto3_calls(HANDLER_FILES, _DATA_SERVICES)
    assert calls["s3:PutObject"] == {"store.py", "deadletter.py"}
    assert "s3:ListBucket" in calls and "sqs:SendMessage" in calls
    assert calls["dynamodb:UpdateItem"] == {"attempts.py", "dynamodb.py"}
    assert "dynamodb:CreateTable" not in calls  # resources.py is local-only and left out


# --- Reading the role from the HCL ------------------------------------------------------------


def statements(inst: Instance, document: str) -> dict[str, dict[str, Any]]:
    """The statements of ``data.aws_iam_policy_document.<document>`` present with the
    instance's inputs, by sid: ``actions`` evaluated, ``resources`` as written."""
    (doc,) = [d for d in inst.resources("aws_iam_policy_document", "data") if d.name == document]
    out: dict[str, dict[str, Any]] = {}
    for statement in _present(inst, doc):
        actions = inst.eval(statement["actions"])
        assert not is_unknown(actions), f"{statement.get('sid')}: actions unknown at plan time"
        out[statement["sid"]] = {
            "actions": set(actions),
            "resources": statement["resources"],
            "condition": statement.get("condition"),
        }
    return out


def _present(inst: Instance, doc: Resource) -> Iterator[dict[str, Any]]:
    yield from doc.body.get("statement", [])
    for dynamic in doc.body.get("dynamic", []):
        if "statement" in dynamic:
            for_each = inst.eval(dynamic["statement"]["for_each"])
            assert not is_unknown(for_each), "the tests pass known inputs"
            if for_each:
                yield from dynamic["statement"]["content"]


def _services_actions(policy: dict[str, dict[str, Any]], services: Iterable[str]) -> set[str]:
    prefixes = tuple(f"{s}:" for s in services)
    return {a for s in policy.values() for a in s["actions"] if a.startswith(prefixes)}


_KEYS = {
    "stream_kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/stream",
    "bucket_kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/bucket",
}


def _lambda_role(module: Callable[..., Instance], **inputs: Any) -> dict[str, dict[str, Any]]:
    return statements(module("lambda_consumer", **{**_KEYS, **inputs}), "function")


# --- The Lambda role -------------------------------------------------------------------------


def test_lambda_role_allows_exactly_the_data_calls_of_the_handler(
    module: Callable[..., Instance],
) -> None:
    calls = boto3_calls(HANDLER_FILES, _DATA_SERVICES)
    # GetQueueUrl only runs without SHARDFLOW_DLQ_URL, which the module always sets.
    assert set(calls.pop("sqs:GetQueueUrl")) == {"consumer.py"}
    assert settings.DLQ_URL in module("lambda_consumer").local("handler_environment")
    granted = _services_actions(_lambda_role(module), _DATA_SERVICES)
    assert granted == set(calls), (
        f"granted, never called: {sorted(granted - set(calls))}; "
        f"called, not granted: {sorted(set(calls) - granted)}"
    )


def test_lambda_role_statements_name_exactly_their_resources(
    module: Callable[..., Instance],
) -> None:
    role = _lambda_role(module)
    bucket, prefix, errors = "${local.bucket_arn}", "${var.output_prefix}", "${var.errors_prefix}"
    expected = {
        "WriteOwnLogGroup": (
            {"logs:CreateLogStream", "logs:PutLogEvents"},
            ["${local.log_group_arn}:*"],
        ),
        # The event source mapping reads with the function's role.
        "ReadStream": (
            {
                "kinesis:DescribeStream",
                "kinesis:DescribeStreamSummary",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards",
            },
            ["${var.stream_arn}"],
        ),
        "WriteOutputAndErrorPrefixes": (
            {"s3:PutObject"},
            [f"{bucket}/{prefix}/*", f"{bucket}/{errors}/*"],
        ),
        "ListOwnManifests": ({"s3:ListBucket"}, [bucket]),
        "ReadOwnManifests": ({"s3:GetObject"}, [f"{bucket}/{prefix}/_manifests/*"]),
        "ReplaceOwnOutputOnReplay": ({"s3:DeleteObject"}, [f"{bucket}/{prefix}/*"]),
        # Both modes (SHARDFLOW_IDEMPOTENCY): powertools per event (GetItem, PutItem,
        # UpdateItem, DeleteItem) and the batch store (PutItem in TransactWriteItems,
        # BatchGetItem, BatchWriteItem).
        "Idempotency": (
            {
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:BatchGetItem",
                "dynamodb:BatchWriteItem",
            },
            ["${aws_dynamodb_table.idempotency.arn}"],
        ),
        "CountAttempts": (
            {"dynamodb:GetItem", "dynamodb:UpdateItem"},
            ["${aws_dynamodb_table.attempts.arn}"],
        ),
        "SendDeadLetters": ({"sqs:SendMessage"}, ["${aws_sqs_queue.dead_letter.arn}"]),
        # Lambda sends a discarded batch's metadata to the OnFailure queue as the function.
        "SendDiscardedBatches": ({"sqs:SendMessage"}, ["${aws_sqs_queue.on_failure.arn}"]),
        # Tables, queues and environment: DynamoDB and SQS on the role's behalf, Lambda's
        # environment decryption.
        "UseOwnKey": (
            {"kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"},
            ["${local.kms_key_arn}"],
        ),
        # GetRecords of an encrypted stream through the mapping.
        "DecryptStream": ({"kms:Decrypt"}, ["${var.stream_kms_key_arn}"]),
        # SSE-KMS: PutObject needs a data key, GetObject of a manifest decrypts.
        "EncryptOutput": ({"kms:GenerateDataKey", "kms:Decrypt"}, ["${var.bucket_kms_key_arn}"]),
    }
    assert set(role) == set(expected)
    for sid, (actions, targets) in expected.items():
        assert role[sid]["actions"] == actions, sid
        assert role[sid]["resources"] == targets, sid
    (listing,) = role["ListOwnManifests"]["condition"]
    assert (listing["test"], listing["variable"], listing["values"]) == (
        "StringLike",
        "s3:prefix",
        [f"{prefix}/_manifests/*"],
    )
    # EMF metrics are log lines: no PutMetricData.
    assert not any(a.startswith("cloudwatch:") for s in role.values() for a in s["actions"])


def test_lambda_role_grants_keys_only_for_what_is_encrypted(
    module: Callable[..., Instance],
) -> None:
    role = statements(module("lambda_consumer"), "function")
    assert "DecryptStream" not in role and "EncryptOutput" not in role
    traced = _lambda_role(module, tracing_enabled=True)
    assert traced["Tracing"]["actions"] == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


# --- The KCL role ---------------------------------------------------------------------------


def _kcl_role(module: Callable[..., Instance], **inputs: Any) -> dict[str, dict[str, Any]]:
    given = {
        "stream_kms_key_arn": _KEYS["stream_kms_key_arn"],
        "bucket_name": "shardflow-output",
        "bucket_kms_key_arn": _KEYS["bucket_kms_key_arn"],
        "dead_letter_queue_arn": "arn:aws:sqs:eu-west-1:123456789012:shardflow-dlq",
        "dead_letter_queue_kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/dlq",
        **inputs,
    }
    return statements(module("kcl_consumer", **given), "kcl")


def test_kcl_role_allows_exactly_the_data_calls_of_the_processor(
    module: Callable[..., Instance],
) -> None:
    # The processor (consumers.kcl) writes with the sink and the dead-letter queue; the
    # DynamoDB calls are the daemon's (next test).
    calls = boto3_calls(KCL_PROCESSOR_FILES, ("s3", "sqs"))
    granted = _services_actions(_kcl_role(module), ("s3", "sqs"))
    assert granted == set(calls)
    without_sink = _kcl_role(module, bucket_name=None, dead_letter_queue_arn=None)
    assert not _services_actions(without_sink, ("s3", "sqs"))


def _kcl_jars() -> list[Path]:
    amazon_kclpy = pytest.importorskip("amazon_kclpy", reason="the kcl extra is not installed")
    jars = Path(amazon_kclpy.__file__).parent / "jars"
    found = sorted(jars.glob("amazon-kinesis-client-[0-9]*.jar")) + sorted(
        jars.glob("dynamodb-lock-client-*.jar")
    )
    if not found:
        pytest.skip(f"no KCL jars in {jars}")
    return found


_REQUEST = re.compile(rb"awssdk/services/(kinesis|dynamodb|cloudwatch)/model/(\w+)Request\b")


@cache
def kcl_daemon_actions() -> frozenset[str]:
    """Every Kinesis, DynamoDB and CloudWatch action the KCL's classes build a request for."""
    out: set[str] = set()
    for jar in _kcl_jars():
        with zipfile.ZipFile(jar) as archive:
            for name in archive.namelist():
                if name.endswith(".class"):
                    for service, operation in _REQUEST.findall(archive.read(name)):
                        out.add(f"{service.decode()}:{operation.decode()}")
    return frozenset(out)


def test_kcl_role_grants_no_daemon_action_the_kcl_never_calls(
    module: Callable[..., Instance],
) -> None:
    daemon = kcl_daemon_actions()
    assert {"kinesis:ListShards", "dynamodb:Scan", "cloudwatch:PutMetricData"} <= daemon
    assert "kinesis:DescribeStream" not in daemon  # KCL 3 lists shards, never DescribeStream
    for inputs in ({}, {"enhanced_fan_out": True, "create_tables": False}):
        granted = _services_actions(
            _kcl_role(module, **inputs), ("kinesis", "dynamodb", "cloudwatch")
        )
        assert granted <= daemon, f"{inputs}: {sorted(granted - daemon)} never called by the KCL"


def test_kcl_role_statements_per_table_stream_and_mode(module: Callable[..., Instance]) -> None:
    table_actions = {
        "dynamodb:DescribeTable",
        "dynamodb:Scan",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    }
    polling = _kcl_role(module)
    assert polling["ReadStream"]["actions"] == {
        "kinesis:DescribeStreamSummary",
        "kinesis:ListShards",
        "kinesis:GetShardIterator",
        "kinesis:GetRecords",
    }
    assert polling["ReadStream"]["resources"] == ["${var.stream_arn}"]
    assert "RegisterFanOutConsumer" not in polling
    # Terraform created the tables complete: the KCL only describes them.
    assert polling["LeaseTable"]["actions"] == table_actions
    assert polling["LeaseTable"]["resources"] == ["${local.lease_table_arn}"]
    assert polling["CoordinatorStateAndWorkerMetricsTables"]["actions"] == table_actions
    assert polling["CoordinatorStateAndWorkerMetricsTables"]["resources"] == [
        "${local.coordinator_state_table_arn}",
        "${local.worker_metrics_table_arn}",
    ]
    assert polling["FindOwnLeases"]["actions"] == {"dynamodb:Query"}
    assert polling["FindOwnLeases"]["resources"] == [
        f"${{local.lease_table_arn}}/index/{resources.KCL_LEASE_OWNER_INDEX}"
    ]
    (namespace,) = polling["PublishMetricsInOwnNamespace"]["condition"]
    assert (namespace["variable"], namespace["values"]) == (
        "cloudwatch:namespace",
        ["${var.application_name}"],  # KCL's namespace defaults to the application name
    )
    assert polling["UseTablesKey"]["resources"] == ["${local.kms_key_arn}"]
    assert polling["DecryptStream"]["actions"] == {"kms:Decrypt"}
    assert polling["EncryptOutput"]["actions"] == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert polling["EncryptDeadLetters"]["actions"] == {"kms:GenerateDataKey", "kms:Decrypt"}

    fanout = _kcl_role(module, enhanced_fan_out=True, create_tables=False)
    assert fanout["RegisterFanOutConsumer"]["actions"] == {"kinesis:RegisterStreamConsumer"}
    assert fanout["SubscribeAsFanOutConsumer"]["actions"] == {
        "kinesis:DescribeStreamConsumer",
        "kinesis:SubscribeToShard",
    }
    assert fanout["SubscribeAsFanOutConsumer"]["resources"] == ["${var.stream_arn}/consumer/*"]
    # The KCL creates its tables, and adds the lease index with UpdateTable.
    assert fanout["LeaseTable"]["actions"] == table_actions | {
        "dynamodb:CreateTable",
        "dynamodb:UpdateTable",
    }
    assert fanout["CoordinatorStateAndWorkerMetricsTables"]["actions"] == table_actions | {
        "dynamodb:CreateTable"
    }
    assert "UseTablesKey" not in fanout


# --- The Iceberg output (output_format iceberg) --------------------------------------------

#: What the Iceberg writer calls on its catalog (consumers.sink.iceberg): opening the table
#: (load_table, and on first use create_namespace_if_not_exists and
#: create_table_if_not_exists) and each commit (a Transaction's commit goes to
#: catalog.commit_table).
_WRITER_CATALOG_CALLS = (
    "load_table",
    "create_namespace_if_not_exists",
    "create_table_if_not_exists",
    "commit_table",
)


#: Branches of the catalog the writer never takes: tables in a database federated to S3
#: Tables (s3_output creates a plain Glue database).
_NOT_TAKEN = frozenset({"_create_table_s3tables"})


def _methods(*paths: Path) -> dict[str, ast.FunctionDef]:
    """Methods of the classes in ``paths`` by name; the first file's win (the subclass)."""
    out: dict[str, ast.FunctionDef] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef):
                        out.setdefault(item.name, item)
    return out


def glue_catalog_calls(entry_points: Iterable[str]) -> set[str]:
    """The Glue IAM actions pyiceberg's GlueCatalog can call from ``entry_points``: its
    ``self.glue.<operation>(...)`` calls, following ``self.<method>(...)`` through the
    catalog and its base classes."""
    pytest.importorskip("pyiceberg", reason="the iceberg extra is not installed")
    import pyiceberg.catalog
    import pyiceberg.catalog.glue

    methods = _methods(Path(pyiceberg.catalog.glue.__file__), Path(pyiceberg.catalog.__file__))
    operations = _operations(("glue",))
    seen: set[str] = set()
    actions: set[str] = set()
    todo = list(entry_points)
    while todo:
        name = todo.pop()
        if name in seen or name not in methods or name in _NOT_TAKEN:
            continue
        seen.add(name)
        for node in ast.walk(methods[name]):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id == "self":
                todo.append(node.func.attr)
            elif (
                isinstance(owner, ast.Attribute)
                and owner.attr == "glue"
                and isinstance(owner.value, ast.Name)
                and owner.value.id == "self"
                and node.func.attr in operations
            ):
                actions.update(_iam_actions(*operations[node.func.attr]))
    assert set(entry_points) <= seen, f"not in pyiceberg's catalog: {set(entry_points) - seen}"
    return actions


def test_the_writer_calls_these_catalog_methods() -> None:
    called = set()
    for path in sorted(REPO.glob("consumers/sink/iceberg/*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "catalog"
            ):
                called.add(node.func.attr)
    assert called == set(_WRITER_CATALOG_CALLS) - {"commit_table"}


_ICEBERG_GLUE = {
    "glue:GetTable",
    "glue:UpdateTable",
    "glue:CreateTable",
    "glue:GetDatabase",
    "glue:CreateDatabase",
}


def _glue_statements(role: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {sid: s for sid, s in role.items() if any(a.startswith("glue:") for a in s["actions"])}


@pytest.mark.parametrize("name", ["lambda_consumer", "kcl_consumer"])
def test_iceberg_roles_allow_exactly_the_glue_calls_of_the_writer(
    module: Callable[..., Instance], name: str
) -> None:
    assert glue_catalog_calls(_WRITER_CATALOG_CALLS) == _ICEBERG_GLUE
    if name == "lambda_consumer":
        role = _lambda_role(module, output_format="iceberg", iceberg_table="orders.events")
        hive = _lambda_role(module)
    else:
        role = _kcl_role(module, iceberg_table="orders.events")
        hive = _kcl_role(module)
    glue = _glue_statements(role)
    assert {a for s in glue.values() for a in s["actions"]} == _ICEBERG_GLUE
    catalog, database, table = (
        "${local.glue_catalog_arn}",
        "${local.glue_database_arn}",
        "${local.glue_table_arn}",
    )
    # Glue authorises a table call on the catalog, the database and the table; a database
    # call on the catalog and the database.
    assert glue["CommitToIcebergTable"]["resources"] == [catalog, database, table]
    assert glue["ReadIcebergDatabase"]["resources"] == [catalog, database]
    assert glue["ReadIcebergDatabase"]["actions"] == {"glue:GetDatabase", "glue:CreateDatabase"}
    inst = (
        module("lambda_consumer", iceberg_table="orders.events")
        if name == "lambda_consumer"
        else module("kcl_consumer", bucket_name="b-bucket", iceberg_table="orders.events")
    )

    def arn_tail(local: str, marker: str) -> Any:
        # The ARN's head (partition, region, account) is known after apply only.
        head, tail = inst.module.locals[local].split(marker, 1)
        assert head.startswith(("arn:${local.partition}:glue:", "${local.glue_arn_base}")), local
        return inst.eval_template(tail) if tail else ""

    assert arn_tail("glue_catalog_arn", ":catalog") == ""
    assert arn_tail("glue_database_arn", ":database/") == "orders"
    assert arn_tail("glue_table_arn", ":table/") == "orders/events"
    # The Hive layout's role has no Glue access and keeps its manifests' statements; the
    # Iceberg role reads and lists the table's files instead.
    assert not _glue_statements(hive)
    assert {"ListOwnManifests", "ReadOwnManifests"} <= set(hive)
    assert not {"ListOwnManifests", "ReadOwnManifests"} & set(role)
    bucket, prefix = "${local.bucket_arn}", "${var.output_prefix}"
    assert role["ReadIcebergTable"]["actions"] == {"s3:GetObject"}
    assert role["ReadIcebergTable"]["resources"] == [f"{bucket}/{prefix}/*"]
    assert role["ListIcebergTable"]["actions"] == {"s3:ListBucket"}
    assert role["ListIcebergTable"]["resources"] == [bucket]
    (listing,) = role["ListIcebergTable"]["condition"]
    assert (listing["test"], listing["variable"], listing["values"]) == (
        "StringLike",
        "s3:prefix",
        [f"{prefix}/*"],
    )
    # Writes (data and metadata files, dead letters) and deletes (uncommitted data files)
    # stay where the Hive layout has them.
    for sid in ("WriteOutputAndErrorPrefixes", "ReplaceOwnOutputOnReplay"):
        assert role[sid] == hive[sid], sid
    assert not any("*" in a for s in glue.values() for a in s["actions"])


def test_iceberg_table_files_are_below_the_prefix_the_roles_grant(
    module: Callable[..., Instance], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The function's warehouse is s3://BUCKET/OUTPUT_PREFIX, so a table the writer creates
    # (WAREHOUSE/DATABASE.db/TABLE) is below the prefix the role reads, lists and writes.
    pytest.importorskip("pyiceberg", reason="the iceberg extra is not installed")
    pytest.importorskip("sqlalchemy", reason="the iceberg extra is not installed")
    from pyiceberg.catalog.glue import GlueCatalog

    inst = module(
        "lambda_consumer", output_format="iceberg", iceberg_table="orders.events", bucket_name="b"
    )
    warehouse = inst.local("handler_environment")[settings.ICEBERG_WAREHOUSE]
    assert warehouse == "s3://b/events"
    # Glue's convention, for s3_output's database (it has no location of its own).
    catalog = GlueCatalog("t", client=object(), warehouse=warehouse)
    monkeypatch.setattr(catalog, "load_namespace_properties", lambda namespace: {})
    location = catalog._resolve_table_location(None, "orders", "events")
    assert location.startswith(f"{warehouse}/")
    assert location == f"{warehouse}/orders.db/events"
