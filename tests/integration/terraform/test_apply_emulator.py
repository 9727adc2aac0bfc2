"""``terraform apply`` of ``terraform/envs/localstack`` against a fresh embedded emulator.

Where terraform is on PATH and ``TF_PLUGIN_DIR`` names a mirror of the hashicorp/aws
provider (``.ci/run`` sets it on CI machines that carry one), this applies the environment
to a moto server of its own (a child process: moto's state is per process, and these are
the fixed names of ``shardflow.resources``), then checks what Terraform created against
what the code expects: ``shardflow bootstrap`` finds every resource as it would create it,
the deployed event source mapping has the settings the local runner reads from the
module's outputs, and the local pipeline runs on the applied resources with that
environment. ``destroy`` runs at the end and must succeed.

The function's zip is a placeholder (the emulator stores it and runs nothing);
``shardflow package lambda`` and its tests cover the real one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from terraform_cli import PLUGIN_DIR, TERRAFORM_ROOT, plugin_dir, run, terraform_binary

from consumers.lambda_esm import MappingConfig
from shardflow import aws, resources
from shardflow.bootstrap import bootstrap, default_spec
from shardflow.emulator import EmulatorProcess

pytestmark = pytest.mark.slow

_EVENTS = 300


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


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    reason = _skip_reason()
    if reason is not None:
        pytest.skip(reason)
    binary = terraform_binary()
    mirror = plugin_dir()
    assert binary is not None and mirror is not None
    work = tmp_path_factory.mktemp("terraform")
    shutil.copytree(TERRAFORM_ROOT, work / "terraform")
    env_dir = work / "terraform" / "envs" / "localstack"
    package = work / "placeholder.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("consumers/lambda_handler/__init__.py", "def handler(e, c): ...\n")

    emulator = EmulatorProcess()
    endpoint = emulator.start()
    variables = ["-var", f"endpoint={endpoint}", "-var", f"lambda_package_path={package}"]
    environment = Applied(endpoint, {}).env()
    try:
        run(binary, env_dir, "init", "-input=false", f"-plugin-dir={mirror}", env=environment)
        run(binary, env_dir, "apply", "-auto-approve", "-input=false", *variables, env=environment)
        try:
            outputs = json.loads(run(binary, env_dir, "output", "-json", env=environment))
            yield Applied(endpoint, {name: value["value"] for name, value in outputs.items()})
        finally:
            run(binary, env_dir, "destroy", "-auto-approve", "-input=false", *variables)
            state = run(binary, env_dir, "state", "list", env=environment)
            assert state.strip() == "", f"destroy left resources in the state:\n{state}"
    finally:
        emulator.stop()


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
