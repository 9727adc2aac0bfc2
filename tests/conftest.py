"""Fixtures every test directory shares: the AWS endpoint and random resource names.

``tests/support`` (helpers the harnesses share) is put on ``sys.path``; the session ends
with the fault table when fault cases ran (``tests/support/faulttable.py``).

Integration tests get an endpoint from ``aws_endpoint``: the one in ``AWS_ENDPOINT_URL``
when set (LocalStack, a ``shardflow local`` emulator, or AWS itself), otherwise an
in-process moto server on a free loopback port, started once per session. Tests under
``tests/integration`` are marked ``integration`` automatically.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shardflow import aws, settings
from shardflow_tools.bootstrap import (
    BootstrapReport,
    BootstrapSpec,
    BucketSpec,
    QueueSpec,
    StreamSpec,
    TableSpec,
    bootstrap,
)

_ROOT = Path(__file__).parent
if str(_ROOT / "support") not in sys.path:
    sys.path.insert(0, str(_ROOT / "support"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.fspath))
        if _ROOT / "integration" in path.parents:
            item.add_marker(pytest.mark.integration)
        if _ROOT / "e2e" in path.parents:
            item.add_marker(pytest.mark.e2e)
        if _ROOT / "faults" in path.parents:
            item.add_marker(pytest.mark.faults)
            item.add_marker(pytest.mark.integration)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fault table, when fault cases ran (``make faults``; rows from tests/faults and
    the KCL workers e2e test)."""
    from faulttable import write_table

    write_table(terminalreporter)


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    """The endpoint URL integration tests talk to; the process environment points at it."""
    configured = settings.endpoint_url()
    saved = {k: os.environ.get(k) for k in _ENV_KEYS}
    os.environ.setdefault(settings.REGION, settings.DEFAULT_REGION)
    if configured:
        if aws.is_local_endpoint(configured):
            os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
        yield configured
        _restore(saved)
        return
    from shardflow_tools.emulator import EmbeddedEmulator

    emulator = EmbeddedEmulator()
    url = emulator.start()
    os.environ[settings.ENDPOINT_URL] = url
    os.environ["AWS_ACCESS_KEY_ID"] = "test"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "test"
    try:
        yield url
    finally:
        emulator.stop()
        _restore(saved)


_ENV_KEYS = (settings.ENDPOINT_URL, settings.REGION, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def _restore(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """Factory of random resource names: ``unique_name("stream")`` -> ``sf-stream-1a2b3c4d5e``."""

    def make(kind: str = "res") -> str:
        return f"sf-{kind}-{uuid.uuid4().hex[:10]}"

    return make


Spec = StreamSpec | TableSpec | BucketSpec | QueueSpec


@pytest.fixture
def provision(aws_endpoint: str) -> Callable[..., BootstrapReport]:
    """Create resources the way everything in shardflow does, through bootstrap's spec, with
    the names the test picks: ``provision(StreamSpec(name, shard_count=2), BucketSpec(b))``.

    No KMS key (the services' default encryption); returns the report (``queue_urls``).
    """

    def make(*specs: Spec) -> BootstrapReport:
        spec = BootstrapSpec(
            key=None,
            streams=tuple(s for s in specs if isinstance(s, StreamSpec)),
            tables=tuple(s for s in specs if isinstance(s, TableSpec)),
            buckets=tuple(s for s in specs if isinstance(s, BucketSpec)),
            queues=tuple(s for s in specs if isinstance(s, QueueSpec)),
        )
        return bootstrap(spec, endpoint_url=aws_endpoint)

    return make


@pytest.fixture
def aws_client(aws_endpoint: str) -> Callable[[str], Any]:
    """Factory of boto3 clients bound to the test endpoint: ``aws_client("kinesis")``."""

    def make(service: str) -> Any:
        return aws.client(service, endpoint_url=aws_endpoint)

    return make
