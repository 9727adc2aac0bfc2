"""The fault suite: every case is marked ``faults`` (and ``integration``); the session ends
with the fault table (case, runtime, events acknowledged, in S3, duplicates, dead-lettered,
lost, time to recover), printed by ``tests/conftest.py`` (:mod:`faulttable`)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from faultproxy import FaultPlan, FaultProxy
from harness import FaultPipeline, make_pipeline

from shardflow_tools.bootstrap import BootstrapReport


@pytest.fixture
def proxy(aws_endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(aws_endpoint, FaultPlan()) as running:
        yield running


@pytest.fixture
def fault_pipeline(
    proxy: FaultProxy,
    aws_endpoint: str,
    provision: Callable[..., BootstrapReport],
    unique_name: Callable[[str], str],
) -> FaultPipeline:
    return make_pipeline(proxy, aws_endpoint, provision, unique_name)
