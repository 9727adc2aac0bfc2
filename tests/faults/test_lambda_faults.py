"""The fault table's Lambda rows: producer -> stream -> local event source mapping ->
Lambda handler -> S3, each under one fault, injected at the HTTP boundary."""

from __future__ import annotations

import threading
import time

import orjson
from harness import FaultPipeline, Refuses, corrupt_aggregate, event_mix, wait_for

RUNTIME = "lambda"
EVENTS = 3000
DRAIN_TIMEOUT = 240


def test_throttling_storm(fault_pipeline: FaultPipeline) -> None:
    """A share of PutRecords entries, GetRecords calls, S3 PUTs and DynamoDB writes fail."""
    p = fault_pipeline
    p.proxy.plan.put_records_entries = 0.2
    p.proxy.plan.get_records = 0.2
    p.proxy.plan.s3_puts = 0.2
    p.proxy.plan.dynamodb_writes = 0.2
    started = time.monotonic()
    produced = p.produce(EVENTS)
    p.runner(p.consumer()).run(until_drained=True, timeout=DRAIN_TIMEOUT)
    p.proxy.plan.clear()
    row = p.account("throttling storm", RUNTIME, produced, started=started)
    assert row.acknowledged == EVENTS
    assert p.proxy.injected["PutRecords entry throttled"] > 0
    assert p.proxy.injected["S3 PUT 503 SlowDown"] > 0


def test_endpoint_outage(fault_pipeline: FaultPipeline) -> None:
    """The endpoint refuses connections for 20 s mid-run; producer and consumer ride it out
    (the producer keeps its buffer and retries until the record TTL; the runner retries)."""
    p = fault_pipeline
    started = time.monotonic()
    p.produce(500, start=EVENTS)  # the consumer has something to read when the outage hits
    runner = p.runner(p.consumer())
    failures: list[BaseException] = []

    def consume() -> None:
        try:
            runner.run(timeout=DRAIN_TIMEOUT)
        except BaseException as exc:
            failures.append(exc)

    consuming = threading.Thread(target=consume)
    consuming.start()
    # The outage hits a consumer under way (a runner that cannot reach the endpoint when it
    # starts fails at once, saying so).
    wait_for(lambda: len(p.output_ids()) > 0, "the consumer's first flush", 60)
    outage: list[threading.Thread] = []
    produced = p.produce(EVENTS, midway=lambda: outage.append(p.proxy.outage(20)))
    outage[0].join()
    runner.stop()
    consuming.join()
    assert not failures, f"the consumer did not ride out the outage: {failures[0]!r}"
    p.runner(p.consumer()).run(until_drained=True, timeout=DRAIN_TIMEOUT)
    produced.acknowledged += [e["id"] for e, _ in event_mix(500, start=EVENTS)]
    p.account("endpoint outage 20 s", RUNTIME, produced, started=started)


def test_s3_fails_mid_flush(fault_pipeline: FaultPipeline) -> None:
    """S3 PUTs land and then lose their answer (the connection breaks)."""
    p = fault_pipeline
    started = time.monotonic()
    produced = p.produce(EVENTS)
    p.proxy.plan.s3_puts_lost_answer = 0.3
    p.runner(p.consumer()).run(until_drained=True, timeout=DRAIN_TIMEOUT)
    p.proxy.plan.clear()
    assert p.proxy.injected["S3 PUT answer lost"] > 0
    p.account("S3 fails mid-flush", RUNTIME, produced, started=started)


def test_poison_pills(fault_pipeline: FaultPipeline) -> None:
    """Non-JSON data, a corrupt KPL aggregate, an envelope without type, a handler bug."""
    p = fault_pipeline
    started = time.monotonic()
    produced = p.produce(EVENTS)
    refused = set(produced.acknowledged[100:3000:700])
    produced.poison_ids = set(refused)
    bad_events = [e for e, _ in event_mix(3, start=900_000)]
    no_type = {"id": "evt-no-type", "source": "faults/mix", "data": {}}
    p.put_raw(
        [
            (b"\xff\xfenot json at all", "user-1"),
            (corrupt_aggregate(bad_events), "user-2"),
            (orjson.dumps(no_type), "user-3"),
        ]
    )
    more = p.produce(200, start=EVENTS)  # events after the poison still arrive
    produced.acknowledged += more.acknowledged
    p.runner(p.consumer(Refuses(refused))).run(until_drained=True, timeout=DRAIN_TIMEOUT)
    # "no type" is valid JSON with an id: its dead letter is decodable and names its id.
    produced.acknowledged.append(no_type["id"])
    produced.poison_ids.add(no_type["id"])
    row = p.account("poison pills", RUNTIME, produced, started=started, raw_poison=2)
    assert row.dead_lettered == len(refused) + 3
