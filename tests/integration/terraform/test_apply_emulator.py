"""``terraform apply`` of ``terraform/envs/localstack`` and ``terraform/envs/aws`` against
fresh embedded emulators.

Where terraform is on PATH and ``TF_PLUGIN_DIR`` names a mirror of the hashicorp/aws
provider (``.ci/run`` sets it on CI machines that carry one), each environment is applied
to a moto server of its own (a child process: moto's state is per process, and these are
the fixed names of ``shardflow.resources``), checked against what the code expects, and
destroyed (destroy must succeed and leave an empty state; not envs/aws, see below).

- ``envs/localstack``: ``shardflow bootstrap`` finds every resource as it would create it,
  the deployed event source mapping has the settings the local runner reads from the
  module's outputs, and the local pipeline runs on the applied resources with that
  environment.
- ``envs/aws`` (the provider pointed at the emulator by ``AWS_ENDPOINT_URL``): the Glue
  table as created is the table the sink writes and ``shardflow ddl`` declares, the Athena
  workgroup keeps its results encrypted, the tables are encrypted, recoverable and
  protected from deletion (so this one is not destroyed).

The function's zip is a placeholder (the emulator stores it and runs nothing);
``shardflow package lambda`` and its tests cover the real one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from terraform_cli import PLUGIN_DIR, TERRAFORM_ROOT, plugin_dir, run, terraform_binary

from consumers import athena
from consumers.schema import SCHEMA
from consumers.sink.config import SinkConfig
from shardflow import aws, resources
from shardflow_tools.bootstrap import bootstrap, default_spec
from shardflow_tools.emulator import EmulatorProcess
from shardflow_tools.lambda_esm import MappingConfig

# Applying and destroying a whole environment is mostly Terraform's waits (about 3.5 min on
# a quiet 2-core machine); the module fixture's destroy counts against its last test, so a
# busy machine gets more than the suite's default 600 s.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

_EVENTS = 300
AWS_REGION = "eu-west-1"
AWS_BUCKET = "shardflow-output-123456789012"


@dataclass(frozen=True)
class Applied:
    """The applied environment: its emulator and ``terraform output -json``'s values."""

    endpoint: str
    outputs: dict[str, Any]

    def env(self, **extra: str) -> dict[str, str]:
        """A process environment pointed at this emulator."""
        return {
            **os.environ,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            **extra,
        }


def _skip_reason() -> str | None:
    if terraform_binary() is None:
        return "terraform is not on PATH"
    if plugin_dir() is None:
        return (
            f"{PLUGIN_DIR} does not name a directory: set it to a mirror of the hashicorp/aws "
            "provider (terraform init -plugin-dir) to apply terraform/envs/localstack offline"
        )
    return None


@contextlib.contextmanager
def _apply(
    work: Path,
    env_name: str,
    variables: dict[str, str],
    *,
    endpoint_variable: str | None = None,
    destroy: bool = True,
) -> Iterator[Applied]:
    """Apply ``terraform/envs/ENV_NAME`` (a copy in ``work``) to an emulator of its own, the
    emulator's URL in ``endpoint_variable`` when given; destroy it afterwards if asked."""
    reason = _skip_reason()
    if reason is not None:
        pytest.skip(reason)
    binary = terraform_binary()
    mirror = plugin_dir()
    assert binary is not None and mirror is not None
    shutil.copytree(TERRAFORM_ROOT, work / "terraform")
    env_dir = work / "terraform" / "envs" / env_name
    package = work / "placeholder.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("consumers/lambda_handler/__init__.py", "def handler(e, c): ...\n")

    emulator = EmulatorProcess()
    endpoint = emulator.start()
    values = {"lambda_package_path": str(package), **variables}
    if endpoint_variable is not None:
        values[endpoint_variable] = endpoint
    arguments = [a for k, v in values.items() for a in ("-var", f"{k}={v}")]
    environment = Applied(endpoint, {}).env()
    try:
        run(binary, env_dir, "init", "-input=false", f"-plugin-dir={mirror}", env=environment)
        run(binary, env_dir, "apply", "-auto-approve", "-input=false", *arguments, env=environment)
        try:
            outputs = json.loads(run(binary, env_dir, "output", "-json", env=environment))
            yield Applied(endpoint, {name: value["value"] for name, value in outputs.items()})
        finally:
            if destroy:
                destroy_arguments = ["-auto-approve", "-input=false", *arguments]
                run(binary, env_dir, "destroy", *destroy_arguments, env=environment)
                state = run(binary, env_dir, "state", "list", env=environment)
                assert state.strip() == "", f"destroy left resources in the state:\n{state}"
    finally:
        emulator.stop()


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    """``envs/localstack``, its endpoint variable naming the emulator."""
    with _apply(
        tmp_path_factory.mktemp("localstack"), "localstack", {}, endpoint_variable="endpoint"
    ) as env:
        yield env


@pytest.fixture(scope="module")
def applied_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    """``envs/aws`` with the KCL role too; the provider finds the emulator through
    ``AWS_ENDPOINT_URL``. Not destroyed: its tables have deletion protection (checked
    below), and the emulator goes with the test."""
    variables = {
        "region": AWS_REGION,
        "bucket_name": AWS_BUCKET,
        "deploy_kcl_consumer": "true",
    }
    with _apply(tmp_path_factory.mktemp("aws"), "aws", variables, destroy=False) as env:
        yield env


def test_outputs_name_the_shared_resources(applied: Applied) -> None:
    assert applied.outputs["endpoint"] == applied.endpoint
    assert applied.outputs["kinesis_stream_name"] == resources.STREAM
    assert applied.outputs["s3_bucket_name"] == resources.BUCKET
    runner = applied.outputs["lambda_local_runner_environment"]
    assert runner["SHARDFLOW_IDEMPOTENCY_TABLE"] == resources.IDEMPOTENCY_TABLE
    assert runner["SHARDFLOW_CHECKPOINT_TABLE"] == resources.CHECKPOINT_TABLE


def test_bootstrap_finds_everything_terraform_created(applied: Applied) -> None:
    report = bootstrap(default_spec(), endpoint_url=applied.endpoint)
    created = report.by_outcome("created")
    assert not created, f"terraform did not create {created}"
    updated = [str(o) for o in report if o.outcome == "updated"]
    assert not updated, f"terraform created these differently: {updated}"


def test_deployed_mapping_has_the_local_runners_settings(
    applied: Applied, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner_env = applied.outputs["lambda_local_runner_environment"]
    for name, value in runner_env.items():
        monkeypatch.setenv(name, value)
    local = MappingConfig.from_env()
    client = aws.client("lambda", endpoint_url=applied.endpoint)
    mappings = client.list_event_source_mappings()["EventSourceMappings"]
    assert len(mappings) == 1
    deployed = mappings[0]
    assert deployed["EventSourceArn"].endswith(f":stream/{resources.STREAM}")
    assert deployed["FunctionArn"].endswith(f":function:{runner_env['AWS_LAMBDA_FUNCTION_NAME']}")
    assert deployed["BatchSize"] == local.batch_size
    window = deployed.get("MaximumBatchingWindowInSeconds", 0)
    assert window == local.maximum_batching_window_in_seconds
    assert deployed["StartingPosition"] == local.starting_position
    assert deployed["ParallelizationFactor"] == local.parallelization_factor
    assert deployed["BisectBatchOnFunctionError"] is local.bisect_batch_on_function_error is True
    assert deployed["MaximumRetryAttempts"] == local.maximum_retry_attempts
    assert deployed["MaximumRecordAgeInSeconds"] == local.maximum_record_age_in_seconds
    assert deployed["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert local.report_batch_item_failures
    on_failure = deployed["DestinationConfig"]["OnFailure"]["Destination"]
    assert local.on_failure_queue_url is not None
    assert on_failure.split(":")[-1] == local.on_failure_queue_url.rsplit("/", 1)[-1]

    function = client.get_function(FunctionName=runner_env["AWS_LAMBDA_FUNCTION_NAME"])
    assert function["Configuration"]["Handler"] == "consumers.lambda_handler.handler"


def _shardflow(applied: Applied, *args: str, stdin: str | None = None, **env: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "shardflow", *args],
        input=stdin,
        env=applied.env(**env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"shardflow {args[0]} exited {proc.returncode}:\n{proc.stderr}"
    return proc.stdout


def test_local_pipeline_runs_on_the_applied_resources(applied: Applied) -> None:
    runner_env = applied.outputs["lambda_local_runner_environment"]
    lines = "".join(
        json.dumps({"type": "tf_check", "source": "tests", "data": {"n": n}}) + "\n"
        for n in range(_EVENTS)
    )
    _shardflow(applied, "produce", "--stream", resources.STREAM, "-", stdin=lines)
    _shardflow(
        applied,
        "consume",
        "lambda",
        "--stream",
        resources.STREAM,
        "--until-drained",
        **{k: v for k, v in runner_env.items() if v != ""},
    )
    out = _shardflow(
        applied,
        "query",
        "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM events WHERE type = 'tf_check'",
        "--bucket",
        applied.outputs["s3_bucket_name"],
        "--prefix",
        runner_env["SHARDFLOW_OUTPUT_PREFIX"],
        "--output",
        "json",
    )
    assert json.loads(out.strip().splitlines()[-1]) == {"n": _EVENTS, "ids": _EVENTS}


def test_glue_table_as_created_is_the_sinks_table(applied_aws: Applied) -> None:
    database, name = applied_aws.outputs["glue_table"].split(".")
    glue = aws.client("glue", endpoint_url=applied_aws.endpoint, region=AWS_REGION)
    table = glue.get_table(DatabaseName=database, Name=name)["Table"]
    config = SinkConfig()
    storage = table["StorageDescriptor"]
    assert [(c["Name"], c["Type"], c.get("Comment")) for c in storage["Columns"]] == [
        (c.name, c.type, c.comment) for c in SCHEMA.columns
    ]
    assert [(p["Name"], p["Type"], p.get("Comment")) for p in table["PartitionKeys"]] == [
        (p.name, p.type, p.comment) for p in SCHEMA.partitions
    ]
    parameters = dict(table["Parameters"])
    assert parameters.pop("EXTERNAL") == "TRUE"
    assert parameters == athena.table_parameters(AWS_BUCKET, config)
    expected = athena.storage_format(config.format)
    assert storage["Location"] == athena.table_location(AWS_BUCKET, config)
    assert storage["InputFormat"] == expected.input_format
    assert storage["OutputFormat"] == expected.output_format
    assert storage["SerdeInfo"]["SerializationLibrary"] == expected.serde
    assert storage["SerdeInfo"].get("Parameters", {}) == expected.serde_parameters
    assert table["TableType"] == "EXTERNAL_TABLE"


def test_athena_workgroup_keeps_results_encrypted(applied_aws: Applied) -> None:
    client = aws.client("athena", endpoint_url=applied_aws.endpoint, region=AWS_REGION)
    group = client.get_work_group(WorkGroup=applied_aws.outputs["athena_workgroup_name"])
    configuration = group["WorkGroup"]["Configuration"]
    results = configuration["ResultConfiguration"]
    assert results["OutputLocation"].startswith("s3://")
    assert results["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    assert configuration["EnforceWorkGroupConfiguration"] is True


def test_tables_are_encrypted_recoverable_and_protected(applied_aws: Applied) -> None:
    dynamodb = aws.client("dynamodb", endpoint_url=applied_aws.endpoint, region=AWS_REGION)
    names = dynamodb.list_tables()["TableNames"]
    kcl = resources.KCL_APPLICATION
    expected = {
        resources.IDEMPOTENCY_TABLE,
        resources.ATTEMPTS_TABLE,
        kcl,
        kcl + resources.KCL_COORDINATOR_STATE_SUFFIX,
        kcl + resources.KCL_WORKER_METRICS_SUFFIX,
    }
    assert expected <= set(names)
    for name in names:
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert table["DeletionProtectionEnabled"] is True, name
        assert table["SSEDescription"]["SSEType"] == "KMS", name
        backups = dynamodb.describe_continuous_backups(TableName=name)
        recovery = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        assert recovery["PointInTimeRecoveryStatus"] == "ENABLED", name
