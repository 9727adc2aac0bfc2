"""The applied ``terraform/envs/localstack`` is what ``shardflow bootstrap`` would create.

Runs only with the opt-in of ``tests/integration/conftest.py`` (LocalStack and tflocal or
terraform); it is the live counterpart of ``tests/unit/terraform/test_drift.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from shardflow import resources
from shardflow_tools.bootstrap import bootstrap, default_spec


@pytest.fixture
def applied(
    terraform_localstack: dict[str, Any] | None, terraform_skip_reason: str | None
) -> dict[str, Any]:
    if terraform_localstack is None:
        pytest.skip(terraform_skip_reason or "terraform/envs/localstack was not applied")
    return terraform_localstack


def test_outputs_name_the_shared_resources(applied: dict[str, Any]) -> None:
    assert applied["kinesis_stream_name"] == resources.STREAM
    assert applied["s3_bucket_name"] == resources.BUCKET
    runner = applied["lambda_local_runner_environment"]
    assert runner["SHARDFLOW_IDEMPOTENCY_TABLE"] == resources.IDEMPOTENCY_TABLE
    assert runner["SHARDFLOW_CHECKPOINT_TABLE"] == resources.CHECKPOINT_TABLE


def test_bootstrap_finds_everything_terraform_created(
    applied: dict[str, Any], aws_endpoint: str
) -> None:
    report = bootstrap(default_spec(), endpoint_url=aws_endpoint)
    created = report.by_outcome("created")
    assert not created, f"terraform did not create {created}"
    updated = [str(o) for o in report if o.outcome == "updated"]
    assert not updated, f"terraform created these differently: {updated}"
