"""Opt-in: apply ``terraform/envs/localstack`` before the integration tests, destroy it after.

Set ``SHARDFLOW_TERRAFORM=apply`` and point ``AWS_ENDPOINT_URL`` at LocalStack; ``tflocal``
(pip ``terraform-local``) or ``terraform`` must be on PATH and able to get the AWS provider.
The fixture then runs ``init``, ``apply`` and, after the session, ``destroy``, and
:func:`terraform_localstack` gives the environment's outputs to tests that ask for it.
Without the opt-in nothing happens, and tests that need the applied environment skip and
say why. (``tests/integration/terraform/test_apply_emulator.py`` applies the same
environment to a fresh embedded emulator without any opt-in, where terraform and a provider
mirror exist.)

``terraform/`` (the tests' folder beside this file) is put on ``sys.path``: terraform runs
through its :mod:`terraform_cli`. (Not this folder: its ``consumers/`` would shadow the
package.)
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shardflow import aws, settings

_TERRAFORM_TESTS = Path(__file__).resolve().parent / "terraform"
if str(_TERRAFORM_TESTS) not in sys.path:
    sys.path.insert(0, str(_TERRAFORM_TESTS))

from terraform_cli import LOCALSTACK_ENV, run, terraform_binary  # noqa: E402 - needs the path

OPT_IN = "SHARDFLOW_TERRAFORM"


def skip_reason() -> str | None:
    """Why the environment is not applied here, or None when it is."""
    if os.environ.get(OPT_IN) != "apply":
        return (
            f"opt-in: set {OPT_IN}=apply, start LocalStack (docker-compose.localstack.yml) "
            "and set AWS_ENDPOINT_URL=http://localhost:4566 to apply terraform/envs/localstack"
        )
    if terraform_binary(prefer_tflocal=True) is None:
        return f"{OPT_IN}=apply but neither tflocal nor terraform is on PATH"
    if not aws.is_local_endpoint(settings.endpoint_url()):
        return f"{OPT_IN}=apply needs AWS_ENDPOINT_URL pointing at LocalStack on this machine"
    return None


def _terraform(*args: str) -> str:
    """``tflocal`` when installed (it points every provider endpoint at LocalStack), else
    ``terraform`` (the environment's provider block takes ``var.endpoint``)."""
    binary = terraform_binary(prefer_tflocal=True)
    assert binary is not None
    return run(binary, LOCALSTACK_ENV, *args)


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
