"""The Lambda handler on Lambda's Kinesis event shape, against the emulator's S3, SQS, DynamoDB."""

from __future__ import annotations

import base64
import copy
import json
from collections import Counter
from typing import Any

import pytest
from handler_batches import Flaky, both_idempotency_modes, failed_seqs, seqs

from consumers.lambda_handler import handler as entry_point
from consumers.lambda_handler import reset
from shardflow import settings


def test_success_writes_every_event_of_plain_and_aggregated_records(
    handler_env: Any, events: Any, context: Any
) -> None:
    event = events.kinesis_event(
        [
            ("a", events.envelope("e1")),
            ("b", events.aggregate(["e2", "e3", "e4"])),
            ("c", events.envelope("e5")),
        ],
        stream=handler_env.stream,
    )
    process = Flaky()
    response = handler_env.consumer(process)(event, context)
    assert response == {"batchItemFailures": []}
    rows = handler_env.output()
    assert [r["id"] for r in rows] == ["e1", "e2", "e3", "e4", "e5"]
    assert {r["stream"] for r in rows} == {handler_env.stream}
    assert [r["sub_sequence_number"] for r in rows] == [None, 0, 1, 2, None]
    assert rows[1]["partition_key"] == "agg"
    assert set(process.runs) == {"e1", "e2", "e3", "e4", "e5"}


@both_idempotency_modes
def test_failure_mid_batch_reports_it_and_every_later_record_and_writes_the_prefix(
    handler_env: Any, events: Any, context: Any
) -> None:
    event = events.kinesis_event(
        [(f"k{i}", events.envelope(f"e{i}")) for i in range(6)], stream=handler_env.stream
    )
    process = Flaky({"e2": 1})
    response = handler_env.consumer(process)(event, context)
    assert failed_seqs(response) == seqs(event)[2:]
    assert [r["id"] for r in handler_env.output()] == ["e0", "e1"]
    assert "e3" not in process.runs  # never tried after the failure

    # Lambda retries from the failed record: the rest is written, nothing twice.
    retry = {"Records": event["Records"][2:]}
    assert handler_env.consumer(process)(retry, context) == {"batchItemFailures": []}
    assert [r["id"] for r in handler_env.output()] == [f"e{i}" for i in range(6)]


def test_all_failing_reports_the_whole_batch(handler_env: Any, events: Any, context: Any) -> None:
    event = events.kinesis_event(
        [(f"k{i}", events.envelope(f"e{i}")) for i in range(3)], stream=handler_env.stream
    )
    response = handler_env.consumer(Flaky({"e0": 1}))(event, context)
    assert failed_seqs(response) == seqs(event)
    assert handler_env.output() == []


@both_idempotency_modes
def test_failure_inside_an_aggregate_fails_the_record_and_keeps_its_siblings_for_the_retry(
    handler_env: Any, events: Any, context: Any
) -> None:
    event = events.kinesis_event(
        [("a", events.aggregate(["e1", "e2", "e3"])), ("b", events.envelope("e4"))],
        stream=handler_env.stream,
    )
    process = Flaky({"e2": 1})
    consumer = handler_env.consumer(process)
    assert failed_seqs(consumer(event, context)) == seqs(event)
    assert handler_env.output() == []  # e1 is not written without its record
    assert consumer(event, context) == {"batchItemFailures": []}
    assert [r["id"] for r in handler_env.output()] == ["e1", "e2", "e3", "e4"]
    assert process.runs["e1"] == 1  # idempotency: e1's processing did not run again


@both_idempotency_modes
def test_poison_event_is_dead_lettered_with_its_payload_after_max_attempts(
    handler_env: Any, events: Any, context: Any
) -> None:
    payloads = [(f"k{i}", events.envelope(f"e{i}")) for i in range(4)]
    event = events.kinesis_event(payloads, stream=handler_env.stream)
    process = Flaky({"e1": 10**6})
    consumer = handler_env.consumer(process)
    batch = event
    responses = []
    for _ in range(handler_env.config.max_attempts):
        response = consumer(batch, context)
        responses.append(response)
        failed = failed_seqs(response)
        if not failed:
            break
        batch = {
            "Records": [r for r in event["Records"] if r["kinesis"]["sequenceNumber"] in failed]
        }
    assert [len(failed_seqs(r)) for r in responses] == [3, 3, 0]
    assert process.runs["e1"] == 3
    assert [r["id"] for r in handler_env.output()] == ["e0", "e2", "e3"]
    [letter] = handler_env.dead_letters()
    assert letter["reason"] == "handler_failed"
    assert "cannot process e1" in letter["error"]
    assert base64.b64decode(letter["payload_base64"]) == payloads[1][1]
    assert letter["sequence_number"] == seqs(event)[1]


def test_undecodable_records_are_dead_lettered_at_once(
    handler_env: Any, events: Any, context: Any
) -> None:
    corrupt = bytearray(events.aggregate(["x1", "x2"]))
    corrupt[-1] ^= 0xFF  # digest mismatch
    event = events.kinesis_event(
        [("a", events.envelope("e1")), ("b", bytes(corrupt)), ("c", b"not json")],
        stream=handler_env.stream,
    )
    response = handler_env.consumer()(event, context)
    assert response == {"batchItemFailures": []}
    assert [r["id"] for r in handler_env.output()] == ["e1"]
    letters = handler_env.dead_letters()
    assert sorted(letter["reason"] for letter in letters) == [
        "corrupt_aggregate",
        "invalid_envelope",
    ]
    by_reason = {letter["reason"]: letter for letter in letters}
    assert base64.b64decode(by_reason["corrupt_aggregate"]["payload_base64"]) == bytes(corrupt)
    assert base64.b64decode(by_reason["invalid_envelope"]["payload_base64"]) == b"not json"


def test_documented_event_verbatim_is_consumed(handler_env: Any, events: Any, context: Any) -> None:
    # The developer guide's example: its data ("Hello, this is a test.") is no envelope.
    response = handler_env.consumer()(copy.deepcopy(events.documented), context)
    assert response == {"batchItemFailures": []}
    letters = handler_env.dead_letters()
    assert [letter["reason"] for letter in letters] == ["invalid_envelope"] * 2
    assert {letter["stream"] for letter in letters} == {"lambda-stream"}
    assert {letter["shard_id"] for letter in letters} == {"shardId-000000000006"}


@both_idempotency_modes
def test_idempotent_replay_neither_reprocesses_nor_duplicates(
    handler_env: Any, events: Any, context: Any
) -> None:
    event = events.kinesis_event(
        [("a", events.aggregate(["e1", "e2"])), ("b", events.envelope("e3"))],
        stream=handler_env.stream,
    )
    process = Flaky()
    handler_env.consumer(process)(event, context)
    # A replay of the same batch (a retry after a timeout) and a bisected half of it.
    fresh = handler_env.consumer(process)
    assert fresh(copy.deepcopy(event), context) == {"batchItemFailures": []}
    assert fresh({"Records": event["Records"][1:]}, context) == {"batchItemFailures": []}
    assert process.runs == Counter({"e1": 1, "e2": 1, "e3": 1})
    assert [r["id"] for r in handler_env.output()] == ["e1", "e2", "e3"]


def test_without_idempotency_table_processing_runs_again_on_replay(
    handler_env: Any, events: Any, context: Any
) -> None:
    event = events.kinesis_event([("a", events.envelope("e1"))], stream=handler_env.stream)
    process = Flaky()
    consumer = handler_env.consumer(process, idempotency_table=None)
    consumer(event, context)
    consumer(event, context)
    assert process.runs["e1"] == 2
    assert [r["id"] for r in handler_env.output()] == ["e1"]  # S3 output stays exactly once


def test_metrics_are_emitted_as_emf(
    handler_env: Any, events: Any, context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    event = events.kinesis_event(
        [(f"k{i}", events.envelope(f"e{i}")) for i in range(3)] + [("x", b"junk")],
        stream=handler_env.stream,
    )
    handler_env.consumer(Flaky({"e1": 1}))(event, context)
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    [doc] = docs
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "shardflow-test"

    def value(name: str) -> float:
        raw = doc[name]
        return float(raw[0] if isinstance(raw, list) else raw)

    assert {m["Name"] for m in directive["Metrics"]} >= {
        "ProcessedEvents",
        "FailedEvents",
        "FailedRecords",
        "DeadLetteredEvents",
        "IteratorAgeMilliseconds",
    }
    assert value("ProcessedEvents") == 1
    assert value("FailedEvents") == 1
    assert value("FailedRecords") == 3
    assert value("DeadLetteredEvents") == 0
    assert value("IteratorAgeMilliseconds") > 0
    assert doc["stream"] == handler_env.stream


def test_entry_point_reads_its_configuration_from_the_environment(
    handler_env: Any, events: Any, context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = handler_env.config
    monkeypatch.setenv(settings.BUCKET, config.bucket)
    monkeypatch.setenv(settings.DLQ_URL, config.dlq_url)
    monkeypatch.setenv(settings.IDEMPOTENCY_TABLE, config.idempotency_table)
    monkeypatch.setenv(settings.ATTEMPTS_TABLE, config.attempts_table)
    monkeypatch.setenv(settings.OUTPUT_FORMAT, "jsonl")
    reset()
    try:
        event = events.kinesis_event([("a", events.envelope("e1"))], stream=handler_env.stream)
        assert entry_point(event, context) == {"batchItemFailures": []}
    finally:
        reset()
    assert [r["id"] for r in handler_env.output()] == ["e1"]


@both_idempotency_modes
def test_processor_named_in_the_environment_runs_once_per_event(
    handler_env: Any,
    events: Any,
    context: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    unique_name: Any,
) -> None:
    module = unique_name("proc").replace("-", "_")
    seen = tmp_path / "seen.txt"
    (tmp_path / f"{module}.py").write_text(
        f"def process(event):\n    open({str(seen)!r}, 'a').write(event.id + '\\n')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(settings.PROCESSOR, f"{module}:process")
    from consumers.lambda_handler import HandlerConfig, LambdaConsumer

    values = {f: getattr(handler_env.config, f) for f in handler_env.config.__dataclass_fields__}
    values["processor"] = HandlerConfig.from_env().processor
    consumer = LambdaConsumer(HandlerConfig(**values), clients=handler_env.clients)
    event = events.kinesis_event([("a", events.aggregate(["e1", "e2"]))], stream=handler_env.stream)
    consumer(event, context)
    consumer(copy.deepcopy(event), context)  # a replay
    assert seen.read_text().split() == ["e1", "e2"]


def test_unknown_processor_is_a_configuration_error(handler_env: Any) -> None:
    from consumers.lambda_handler import HandlerConfig, LambdaConsumer
    from shardflow.errors import ConfigError

    values = {f: getattr(handler_env.config, f) for f in handler_env.config.__dataclass_fields__}
    values["processor"] = "no_such_module_xyz:process"
    with pytest.raises(ConfigError, match=settings.PROCESSOR):
        LambdaConsumer(HandlerConfig(**values), clients=handler_env.clients)


def _dead_letter_e2_then_fail_e3(handler_env: Any, events: Any, context: Any) -> Any:
    """An aggregate [e1, e2, e3]: e2 fails until it is dead-lettered, then e3 fails once, so
    the aggregate comes again. Returns (event, consumer, processing)."""
    event = events.kinesis_event(
        [("a", events.aggregate(["e1", "e2", "e3"]))], stream=handler_env.stream
    )
    process = Flaky({"e2": 10**6})
    consumer = handler_env.consumer(process)
    for _ in range(handler_env.config.max_attempts - 1):
        assert failed_seqs(consumer(event, context)) == seqs(event)
    process.fail["e3"] = 1
    assert failed_seqs(consumer(event, context)) == seqs(event)  # e2 dead-lettered, e3 failed
    return event, consumer, process


@both_idempotency_modes
def test_dead_lettered_event_is_not_sent_again_when_its_aggregate_is_retried(
    handler_env: Any, events: Any, context: Any
) -> None:
    # e2 must not reach the queue a second time, whether the retry lands on the same
    # execution environment or on a fresh one.
    event, consumer, process = _dead_letter_e2_then_fail_e3(handler_env, events, context)
    assert consumer(event, context) == {"batchItemFailures": []}
    assert process.runs["e2"] == handler_env.config.max_attempts  # remembered: not run again
    fresh = handler_env.consumer(Flaky({"e2": 10**6}))
    assert fresh(event, context) == {"batchItemFailures": []}
    assert [letter["reason"] for letter in handler_env.dead_letters()] == ["handler_failed"]
    assert [r["id"] for r in handler_env.output()] == ["e1", "e3"]


def test_sink_failure_reports_the_unwritten_records_and_the_retry_writes_them_once(
    handler_env: Any, events: Any, context: Any
) -> None:
    event = events.kinesis_event(
        [(f"k{i}", events.envelope(f"e{i}")) for i in range(4)], stream=handler_env.stream
    )
    s3 = handler_env.clients.s3
    broken = {"puts": 0}

    def refuse_put(**_: Any) -> Any:
        broken["puts"] += 1
        http = type("Http", (), {"status_code": 503, "headers": {}})()
        error = {"Code": "SlowDown", "Message": "Please reduce your request rate."}
        return http, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 503}}

    s3.meta.events.register("before-call.s3.PutObject", refuse_put)
    try:
        response = handler_env.consumer()(event, context)
    finally:
        s3.meta.events.unregister("before-call.s3.PutObject", refuse_put)
    assert broken["puts"] >= 1
    assert failed_seqs(response) == seqs(event)  # nothing durable: the whole batch again
    assert handler_env.output() == []
    assert handler_env.consumer()(event, context) == {"batchItemFailures": []}
    assert [r["id"] for r in handler_env.output()] == ["e0", "e1", "e2", "e3"]


def test_tracing_on_wraps_the_batch_in_a_subsegment(
    handler_env: Any, events: Any, context: Any
) -> None:
    consumer = handler_env.consumer(tracing=True)
    assert consumer.obs.tracer is not None
    event = events.kinesis_event([("a", events.envelope("e1"))], stream=handler_env.stream)
    assert consumer(event, context) == {"batchItemFailures": []}
    assert [r["id"] for r in handler_env.output()] == ["e1"]


@both_idempotency_modes
def test_an_idempotency_store_outage_never_dead_letters_an_event(
    handler_env: Any, events: Any, context: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # The store failing is not the event's fault: its record is retried (no checkpoint past
    # it) but no attempt is counted, so it is not dead-lettered as if processing had failed.
    event = events.kinesis_event(
        [("a", events.envelope("e1")), ("b", events.envelope("e2"))], stream=handler_env.stream
    )
    process = Flaky()
    consumer = handler_env.consumer(process, idempotency_table=handler_env.stream + "-missing")
    for _ in range(handler_env.config.max_attempts + 1):
        assert failed_seqs(consumer(event, context)) == seqs(event)
    assert process.runs == Counter()
    assert handler_env.dead_letters() == []
    assert handler_env.output() == []
    # The cause is in the function's log, with the record it failed.
    errors = [r for r in caplog.records if r.getMessage().startswith("record failed")]
    assert errors
    assert all("ResourceNotFoundException" in r.error for r in errors)  # type: ignore[attr-defined]
    assert {r.sequence_number for r in errors} == {seqs(event)[0]}  # type: ignore[attr-defined]

    healthy = handler_env.consumer(process)
    assert healthy(event, context) == {"batchItemFailures": []}
    assert [r["id"] for r in handler_env.output()] == ["e1", "e2"]


def _refuse(client: Any, operation: str, code: str) -> Any:
    """Make ``client`` answer ``operation`` with a non-retryable ``code`` until unregistered."""

    def refuse(**_: Any) -> Any:
        http = type("Http", (), {"status_code": 400, "headers": {}})()
        return http, {"Error": {"Code": code, "Message": "refused by the test"}}

    event_name = f"before-call.{client.meta.service_model.service_name}.{operation}"
    client.meta.events.register(event_name, refuse)
    return lambda: client.meta.events.unregister(event_name, refuse)


def test_a_dead_letter_queue_outage_holds_the_shard_at_the_poison_record(
    handler_env: Any, events: Any, context: Any, caplog: pytest.LogCaptureFixture
) -> None:
    event = events.kinesis_event(
        [("a", events.envelope("e1")), ("b", b"not json"), ("c", events.envelope("e3"))],
        stream=handler_env.stream,
    )
    restore = _refuse(handler_env.clients.sqs, "SendMessage", "AccessDenied")
    try:
        response = handler_env.consumer()(event, context)
    finally:
        restore()
    # Not stored anywhere yet: Lambda must not checkpoint past it.
    assert failed_seqs(response) == seqs(event)[1:]
    assert [r["id"] for r in handler_env.output()] == ["e1"]
    assert any("AccessDenied" in getattr(r, "error", "") for r in caplog.records)

    retry = {"Records": event["Records"][1:]}
    assert handler_env.consumer()(retry, context) == {"batchItemFailures": []}
    assert [letter["reason"] for letter in handler_env.dead_letters()] == ["invalid_envelope"]
    assert [r["id"] for r in handler_env.output()] == ["e1", "e3"]


def test_an_attempts_table_outage_retries_without_dead_lettering(
    handler_env: Any, events: Any, context: Any
) -> None:
    event = events.kinesis_event([("a", events.envelope("e1"))], stream=handler_env.stream)
    process = Flaky({"e1": 10**6})
    consumer = handler_env.consumer(process)
    restore = _refuse(handler_env.clients.dynamodb, "UpdateItem", "AccessDeniedException")
    try:
        for _ in range(handler_env.config.max_attempts + 1):
            assert failed_seqs(consumer(event, context)) == seqs(event)
    finally:
        restore()
    assert handler_env.dead_letters() == []  # failures could not be counted: never sent
    assert handler_env.output() == []


@both_idempotency_modes
def test_a_dead_lettered_event_is_not_processed_later_when_its_aggregate_comes_again(
    handler_env: Any, events: Any, context: Any
) -> None:
    # The aggregate comes again to a fresh execution environment where e2's processing
    # would now succeed: it must not run, nor reach S3, since the dead-letter queue holds
    # it (a replay from there would apply it twice).
    event, _, _ = _dead_letter_e2_then_fail_e3(handler_env, events, context)
    recovered = Flaky()
    assert handler_env.consumer(recovered)(event, context) == {"batchItemFailures": []}
    assert recovered.runs == Counter({"e3": 1})
    assert [letter["reason"] for letter in handler_env.dead_letters()] == ["handler_failed"]
    assert [r["id"] for r in handler_env.output()] == ["e1", "e3"]


def test_metric_stream_dimension_is_the_stream_name_for_an_enhanced_fan_out_arn(
    handler_env: Any, events: Any, context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # A registered (enhanced fan-out) consumer's ARN goes on after the stream name.
    event = events.kinesis_event([("a", events.envelope("e1"))], stream=handler_env.stream)
    for record in event["Records"]:
        record["eventSourceARN"] += "/consumer/efo-reader:1764000000"
    assert handler_env.consumer()(event, context) == {"batchItemFailures": []}
    [doc] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert doc["stream"] == handler_env.stream
    assert [r["stream"] for r in handler_env.output()] == [handler_env.stream]


@both_idempotency_modes
def test_a_handler_returning_a_mapping_writes_it_and_a_replay_writes_the_same(
    handler_env: Any, events: Any, context: Any
) -> None:
    # The one handler contract, as the KCL's: a mapping is written instead of the event.
    # Under idempotency the stored result is that envelope, so a replay whose record was
    # not written (a later event of its aggregate failed) writes the replacement too.
    runs: Counter[str] = Counter()

    def enrich(event: Any) -> Any:
        runs[event.id] += 1
        if event.id == "e2" and runs["e2"] == 1:
            raise RuntimeError("not yet")
        return {**event.envelope, "type": "enriched", "data": {"run": runs[event.id]}}

    from consumers.lambda_handler import LambdaConsumer

    event = events.kinesis_event([("a", events.aggregate(["e1", "e2"]))], stream=handler_env.stream)
    consumer = LambdaConsumer(handler_env.config, handler=enrich, clients=handler_env.clients)
    assert failed_seqs(consumer(event, context)) == seqs(event)  # e2 failed once
    assert consumer(event, context) == {"batchItemFailures": []}
    rows = handler_env.output()
    assert [(r["id"], r["type"]) for r in rows] == [("e1", "enriched"), ("e2", "enriched")]
    assert runs == Counter({"e1": 1, "e2": 2})  # e1's stored result was written, not rerun
    data = rows[0]["data"]
    assert (json.loads(data) if isinstance(data, str) else data) == {"run": 1}


def test_a_handler_result_that_cannot_be_written_fails_then_dead_letters_the_event(
    handler_env: Any, events: Any, context: Any
) -> None:
    event = events.kinesis_event(
        [("a", events.envelope("e1")), ("b", events.envelope("e2"))], stream=handler_env.stream
    )
    consumer = handler_env.consumer(
        lambda e: {"id": e.id} if e.id == "e1" else None, idempotency_table=None
    )
    for _ in range(handler_env.config.max_attempts - 1):
        assert failed_seqs(consumer(event, context)) == seqs(event)
    assert consumer(event, context) == {"batchItemFailures": []}
    [letter] = handler_env.dead_letters()
    assert letter["reason"] == "handler_failed"
    assert "invalid envelope" in letter["error"]
    assert [r["id"] for r in handler_env.output()] == ["e2"]
