"""One list of the Lambda function's variables: the docs', the handler's, Terraform's.

The names ``docs/lambda.md`` documents for the function, the names ``lambda_consumer`` sets on it
and the names ``consumers.lambda_handler`` (and powertools under it) reads must be the same,
or a setting documented (or deployed) does nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

import pytest
from terraform_model import REPO, Instance

from shardflow import settings

_PREFIXES = ("SHARDFLOW_", "POWERTOOLS_")


def _documented_function_variables() -> set[str]:
    text = (REPO / "docs" / "lambda.md").read_text()
    heading = re.search(r"^#+ Environment of the function$", text, flags=re.M)
    assert heading, "docs/lambda.md has a section on the function's environment"
    section = text[heading.end() :].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows, "docs/lambda.md has a table of the function's variables"
    names: set[str] = set()
    for row in rows:
        first_cell = row.split("|")[1]
        names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell))
    return names


class _RecordingEnviron(MutableMapping[str, str]):
    """``os.environ`` that notes every name looked up (``os.getenv`` included)."""

    def __init__(self, real: Mapping[str, str]) -> None:
        self._real = dict(real)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self._real[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return self._real.get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return key in self._real

    def __setitem__(self, key: str, value: str) -> None:
        self._real[key] = value

    def __delitem__(self, key: str) -> None:
        del self._real[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._real)

    def __len__(self) -> int:
        return len(self._real)

    def copy(self) -> dict[str, str]:
        return dict(self._real)


@pytest.fixture
def handler_reads(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The SHARDFLOW_/POWERTOOLS_ variables a handler reads while it is built, and those
    its sink reads when it hands out a shard's writer with the iceberg format (the Iceberg
    table's settings, read then)."""
    from consumers.lambda_handler import Clients, HandlerConfig, LambdaConsumer
    from consumers.sink import S3Sink
    from consumers.sink.config import SinkConfig

    recording = _RecordingEnviron(os.environ)
    monkeypatch.setattr(os, "environ", recording)
    LambdaConsumer(HandlerConfig.from_env(), clients=Clients(s3=object(), sqs=object()))
    sink = S3Sink(
        "sf-out", stream="orders", s3_client=object(), config=SinkConfig(format="iceberg")
    )
    sink.shard("shardId-000000000000")
    return {name for name in recording.read if name.startswith(_PREFIXES)}


def test_docs_terraform_and_handler_name_the_same_variables(
    module: Callable[..., Instance], handler_reads: set[str]
) -> None:
    documented = _documented_function_variables()
    deployed = set(module("lambda_consumer").local("handler_environment"))
    assert documented == deployed
    missing = deployed - handler_reads
    assert not missing, f"Terraform sets {sorted(missing)}, which the handler never reads"
    # What the handler reads beyond that is documented with the consumer core (the sink's
    # buffer limits, its declared data schema: docs/consumers.md) or is powertools' own.
    extra = {n for n in handler_reads - deployed if n.startswith("SHARDFLOW_")}
    # The SQL catalog's URI is the local catalog's; the function commits through Glue.
    assert extra <= {
        settings.SINK_MAX_BYTES,
        settings.SINK_MAX_RECORDS,
        settings.SINK_MAX_SPAN_SECONDS,
        settings.ICEBERG_CATALOG_URI,
        settings.DATA_SCHEMA,
    }
    iceberg = {settings.ICEBERG_CATALOG, settings.ICEBERG_TABLE, settings.ICEBERG_WAREHOUSE}
    assert iceberg <= deployed <= handler_reads  # not vacuous: the sink's settings are read
