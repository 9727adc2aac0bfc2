"""Opt-in: apply ``terraform/envs/localstack`` before the integration tests, destroy it after.

Set ``SHARDFLOW_TERRAFORM=apply`` and point ``AWS_ENDPOINT_URL`` at LocalStack; ``tflocal``
(pip ``terraform-local``) or ``terraform`` must be on PATH and able to get the AWS provider.
The fixture then runs ``init``, ``apply`` and, after the session, ``destroy``, and
:func:`terraform_localstack` gives the environment's outputs to tests that ask for it.
Without the opt-in nothing happens, and tests that need the applied environment skip and
say why.

Driven through ``subprocess``, not python-terraform: python-terraform 0.10.1 (2019, its
last release) passes ``-force`` to ``destroy``, a flag Terraform removed in 0.15, so destroy
fails on any current Terraform; it also knows nothing of ``-chdir`` or ``tflocal``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shardflow import aws, settings

ENV_DIR = Path(__file__).resolve().parents[2] / "terraform" / "envs" / "localstack"
OPT_IN = "SHARDFLOW_TERRAFORM"
_TIMEOUT = 900


def terraform_binary() -> str | None:
    """``tflocal`` when installed (it points every provider endpoint at LocalStack), else
    ``terraform`` (the environment's provider block takes ``var.endpoint``)."""
    return shutil.which("tflocal") or shutil.which("terraform")


def skip_reason() -> str | None:
    """Why the environment is not applied here, or None when it is."""
    if os.environ.get(OPT_IN) != "apply":
        return (
            f"opt-in: set {OPT_IN}=apply, start LocalStack (docker-compose.localstack.yml) "
            "and set AWS_ENDPOINT_URL=http://localhost:4566 to apply terraform/envs/localstack"
        )
    if terraform_binary() is None:
        return f"{OPT_IN}=apply but neither tflocal nor terraform is on PATH"
    if not aws.is_local_endpoint(settings.endpoint_url()):
        return f"{OPT_IN}=apply needs AWS_ENDPOINT_URL pointing at LocalStack on this machine"
    return None


def _terraform(*args: str) -> str:
    binary = terraform_binary()
    assert binary is not None
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    proc = subprocess.run(
        [binary, f"-chdir={ENV_DIR}", *args, "-no-color"],
        env=env,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{Path(binary).name} {args[0]} failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
        )
    return proc.stdout


@pytest.fixture(scope="session", autouse=True)
def terraform_localstack() -> Iterator[dict[str, Any] | None]:
    """The applied environment's outputs (``terraform output -json``), or None."""
    if skip_reason() is not None:
        yield None
        return
    endpoint = f"endpoint={settings.endpoint_url()}"
    _terraform("init", "-input=false")
    _terraform("apply", "-auto-approve", "-input=false", "-var", endpoint)
    try:
        outputs = json.loads(_terraform("output", "-json"))
        yield {name: value["value"] for name, value in outputs.items()}
    finally:
        _terraform("destroy", "-auto-approve", "-input=false", "-var", endpoint)


@pytest.fixture(scope="session")
def terraform_skip_reason() -> str | None:
    """Why :func:`terraform_localstack` is None here (for the tests that need it)."""
    return skip_reason()
