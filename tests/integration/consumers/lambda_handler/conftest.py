"""Lambda Kinesis events built on the documented event shape, and a handler on the emulator."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from readback import drain_queue, jsonl_rows

from consumers.idempotency import DEFAULT_MODE, MODES
from consumers.lambda_handler import Clients, HandlerConfig, LambdaConsumer, Observability
from consumers.sink import SinkConfig
from shardflow import envelope, kpl
from shardflow_tools.lambda_esm.resources import ensure_resources

DOCUMENTED = json.loads((Path(__file__).parent / "events" / "kinesis-documented.json").read_text())
TEMPLATE = DOCUMENTED["Records"][0]


def envelope_bytes(event_id: str, **data: Any) -> bytes:
    return envelope.encode(
        envelope.build({"id": event_id, "type": "test.event", "data": data}, default_source="tests")
    )


def kinesis_event(
    records: list[tuple[str, bytes]],
    *,
    stream: str,
    shard_id: str = "shardId-000000000006",
    first_seq: int = 1,
) -> dict[str, Any]:
    """A Lambda Kinesis event (the documented shape) with these (partition key, data) records."""
    out = []
    for i, (key, data) in enumerate(records):
        rec = copy.deepcopy(TEMPLATE)
        seq = f"4959033827149025660855969253836157109592157598913{first_seq + i:07d}"
        rec["kinesis"].update(
            partitionKey=key,
            sequenceNumber=seq,
            data=base64.b64encode(data).decode(),
            approximateArrivalTimestamp=1_764_000_000.0 + i,
        )
        rec["eventID"] = f"{shard_id}:{seq}"
        rec["eventSourceARN"] = f"arn:aws:kinesis:us-east-1:123456789012:stream/{stream}"
        rec["awsRegion"] = "us-east-1"
        out.append(rec)
    return {"Records": out}


def aggregate(event_ids: list[str], key: str = "agg") -> bytes:
    return kpl.aggregate([(key, envelope_bytes(i)) for i in event_ids])


class Context:
    function_name = "fn"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fn"
    memory_limit_in_mb = 128
    aws_request_id = "req-1"
    log_group_name = "/aws/lambda/fn"
    log_stream_name = "stream"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class HandlerEnv:
    """Resources of one test and a factory of consumers bound to them."""

    config: HandlerConfig
    clients: Clients
    stream: str

    def consumer(self, process: Callable[[Any], Any] | None = None, **overrides: Any) -> Any:
        config = self.config
        if overrides:
            values = {f: getattr(config, f) for f in config.__dataclass_fields__}
            values.update(overrides)
            config = HandlerConfig(**values)
        kwargs: dict[str, Any] = {}
        if process is not None:
            kwargs["process"] = process
        obs = Observability(service="test", namespace="shardflow-test", tracing=config.tracing)
        return LambdaConsumer(config, clients=self.clients, observability=obs, **kwargs)

    def output(self) -> list[dict[str, Any]]:
        """Every row the sink wrote (JSON Lines), in key order."""
        return jsonl_rows(self.clients.s3, self.config.bucket)

    def dead_letters(self) -> list[dict[str, Any]]:
        return drain_queue(self.clients.sqs, self.config.dlq_url)


@pytest.fixture
def handler_env(
    request: pytest.FixtureRequest,
    aws_client: Callable[[str], Any],
    unique_name: Callable[[str], str],
) -> HandlerEnv:
    # Parametrized indirectly with an idempotency mode (SHARDFLOW_IDEMPOTENCY); else the default.
    mode = getattr(request, "param", DEFAULT_MODE)
    assert mode in MODES
    clients = Clients(s3=aws_client("s3"), sqs=aws_client("sqs"), dynamodb=aws_client("dynamodb"))
    config = ensure_resources(
        config=HandlerConfig(
            bucket=unique_name("bucket"),
            sink=SinkConfig(format="jsonl"),
            idempotency_table=unique_name("idem"),
            attempts_table=unique_name("attempts"),
            max_attempts=3,
            function_name="fn",
            idempotency_mode=mode,
        ),
        s3_client=clients.s3,
        sqs_client=clients.sqs,
        dynamodb_client=clients.dynamodb,
        dead_letter_queue=unique_name("dlq"),
    )
    return HandlerEnv(config=config, clients=clients, stream=unique_name("stream"))


@pytest.fixture
def context() -> Context:
    return Context()


@pytest.fixture
def events() -> SimpleNamespace:
    """Event builders: ``kinesis_event``, ``aggregate``, ``envelope``, ``documented``."""
    return SimpleNamespace(
        kinesis_event=kinesis_event,
        aggregate=aggregate,
        envelope=envelope_bytes,
        documented=DOCUMENTED,
    )
