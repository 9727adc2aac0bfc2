"""Fixtures of the Terraform tests: the environments and modules as evaluated instances.

The model they evaluate (python-hcl2 and a small expression evaluator, no terraform
binary) is ``tests/support/terraform_model.py``; the tests import it as ``terraform_model``
(``tests/conftest.py`` puts ``tests/support`` on ``sys.path``).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from terraform_model import TERRAFORM, Instance, Module, module_instance


@pytest.fixture(scope="session")
def localstack_env() -> Instance:
    """``terraform/envs/localstack`` with its default variables."""
    return Instance(Module.load(TERRAFORM / "envs" / "localstack"))


@pytest.fixture(scope="session")
def aws_env() -> Instance:
    """``terraform/envs/aws`` with the variables it requires set."""
    return Instance(
        Module.load(TERRAFORM / "envs" / "aws"),
        {"bucket_name": "shardflow-output-123456789012", "lambda_package_path": "dist/lambda.zip"},
    )


@pytest.fixture
def module() -> Callable[..., Instance]:
    """Factory: ``module("lambda_consumer", batch_size=10)``."""
    return module_instance
