"""One exception tree for the consumers, one message format, one StreamNotFoundError."""

from __future__ import annotations

import pickle

import pytest

from consumers.errors import ConsumerError, DeadLetterError, SinkError
from consumers.kcl.errors import JavaNotFoundError, KclError, LaunchError
from consumers.kcl.pipeline import PipelineError
from consumers.lambda_handler import (
    AttemptStoreError,
    EventProcessingError,
    LambdaHandlerError,
    ShardCircuitBreakerError,
)
from producers import ProducerError
from producers import StreamNotFoundError as ProducerStreamNotFound
from shardflow.errors import ShardflowError, StreamNotFoundError
from shardflow_tools.lambda_esm import (
    CheckpointConflictError,
    HandlerImportError,
    MappingError,
)
from shardflow_tools.lambda_esm import StreamNotFoundError as RunnerStreamNotFound


@pytest.mark.parametrize(
    "error",
    [
        KclError,
        LaunchError,
        JavaNotFoundError,
        PipelineError,
        LambdaHandlerError,
        AttemptStoreError,
        ShardCircuitBreakerError,
        EventProcessingError,
        MappingError,
        CheckpointConflictError,
        HandlerImportError,
        RunnerStreamNotFound,
        SinkError,
        DeadLetterError,
    ],
)
def test_every_consumer_error_is_a_consumer_error_and_a_shardflow_error(error: type) -> None:
    assert issubclass(error, ConsumerError)
    assert issubclass(error, ShardflowError)


def test_one_stream_not_found_error_caught_as_its_package_error_too() -> None:
    assert issubclass(ProducerStreamNotFound, StreamNotFoundError)
    assert issubclass(ProducerStreamNotFound, ProducerError)
    assert issubclass(RunnerStreamNotFound, StreamNotFoundError)
    assert issubclass(RunnerStreamNotFound, MappingError)


def test_one_message_format_names_the_context_that_is_set() -> None:
    sink = SinkError("flush failed", stream="orders", shard_id="shardId-1", error_code="SlowDown")
    assert str(sink) == "flush failed (stream=orders, shard=shardId-1, error_code=SlowDown)"
    runner = RunnerStreamNotFound("stream not found", stream="orders")
    assert str(runner) == "stream not found (stream=orders)"
    producer = ProducerStreamNotFound("gone", stream="orders", error_code="ResourceNotFound")
    assert str(producer) == "gone (stream=orders, error_code=ResourceNotFound)"
    assert str(KclError("bare")) == "bare"
    late = DeadLetterError("cannot send")
    late.sequence_number = "42"  # context added after construction is named too
    assert str(late) == "cannot send (sequence_number=42)"
    assert late.message == "cannot send"


def test_context_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(SinkError("x", stream="s", shard_id="sh")))
    assert (error.stream, error.shard_id, str(error)) == ("s", "sh", "x (stream=s, shard=sh)")
