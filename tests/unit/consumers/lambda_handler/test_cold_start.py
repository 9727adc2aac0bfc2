"""The handler package imports only what a handler needs: the cold start pays for nothing else."""

from __future__ import annotations

import subprocess
import sys

import pytest

from consumers.lambda_handler import HandlerConfig
from shardflow import settings
from shardflow.errors import ConfigError

HEAVY = (
    "pyarrow",  # imported on the first Parquet write only
    "duckdb",
    "aws_xray_sdk",  # Tracer only with SHARDFLOW_TRACING=true
    "shardflow_tools.lambda_esm",  # the local runner
    "consumers.kcl",
    "shardflow_tools.cli",
    "moto",
)


def test_importing_the_entry_point_leaves_heavy_modules_out() -> None:
    code = (
        "import sys, consumers.lambda_handler as h; "
        "assert callable(h.handler); "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert out == ""


def test_configuration_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.BUCKET, "my-bucket")
    monkeypatch.setenv(settings.MAX_ATTEMPTS, "5")
    monkeypatch.setenv(settings.IDEMPOTENCY_TABLE, "none")
    monkeypatch.setenv(settings.IDEMPOTENCY_IN_PROGRESS_EXPIRY_SECONDS, "30")
    monkeypatch.setenv(settings.OUTPUT_FORMAT, "jsonl")
    monkeypatch.setenv(settings.TRACING, "false")
    monkeypatch.setenv(settings.LAMBDA_FUNCTION_NAME, "fn-prod")
    config = HandlerConfig.from_env(max_attempts=2)
    assert config.bucket == "my-bucket"
    assert config.max_attempts == 2  # explicit beats the environment
    assert config.idempotency_table is None
    assert config.idempotency_in_progress_expiry_seconds == 30
    assert config.sink.format == "jsonl"
    assert config.function_name == "fn-prod"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_attempts", 0),
        ("idempotency_ttl_seconds", 0),
        ("idempotency_in_progress_expiry_seconds", -1.0),
        ("attempts_ttl_seconds", 10),
        ("bucket", ""),
    ],
)
def test_bad_settings_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        HandlerConfig(**{field: value})  # type: ignore[arg-type]


def test_malformed_variable_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.MAX_ATTEMPTS, "three")
    with pytest.raises(ConfigError, match=settings.MAX_ATTEMPTS):
        HandlerConfig.from_env()


def test_handler_and_its_older_name_process_are_one_argument() -> None:
    from consumers.lambda_handler import Clients, HandlerConfig, LambdaConsumer

    def handle(_event: object) -> None:
        return None

    with pytest.raises(TypeError, match="not both"):
        LambdaConsumer(
            HandlerConfig(dlq_url="q", idempotency_table=None),
            handler=handle,
            process=handle,
            clients=Clients(s3=object(), sqs=object(), dynamodb=object()),
        )
