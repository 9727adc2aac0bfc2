"""docker-compose.localstack.yml: the pinned image, the services shardflow uses, no
Kinesis latency, a health check, loopback only."""

from __future__ import annotations

from typing import Any

import yaml
from terraform_model import REPO

COMPOSE = REPO / "docker-compose.localstack.yml"


def _service() -> dict[str, Any]:
    service: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]["localstack"]
    return service


def _environment() -> dict[str, str]:
    return dict(item.split("=", 1) for item in _service()["environment"])


def test_image_is_the_last_one_without_an_account_token() -> None:
    assert _service()["image"] == "localstack/localstack:4.14.0"
    text = COMPOSE.read_text()
    assert "LOCALSTACK_AUTH_TOKEN" in text, "the file must say how to switch to a token"


def test_services_cover_what_the_terraform_environment_uses() -> None:
    services = set(_environment()["SERVICES"].split(","))
    required = {"kinesis", "dynamodb", "s3", "sqs", "lambda", "iam", "sts", "logs", "cloudwatch"}
    assert required <= services
    # The modules encrypt with a customer managed key.
    assert "kms" in services


def test_kinesis_has_no_added_latency_and_there_is_a_health_check() -> None:
    assert _environment()["KINESIS_LATENCY"] == "0"
    check = _service()["healthcheck"]
    assert "_localstack/health" in " ".join(check["test"])
    assert check["retries"] >= 1


def test_port_is_bound_to_loopback_only() -> None:
    assert _service()["ports"] == ["127.0.0.1:4566:4566"]
