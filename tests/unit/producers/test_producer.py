"""EventProducer against the in-memory Kinesis fake: delivery, errors, retries, ordering.

No emulator: the fake answers ListShards and PutRecords as Kinesis does (routing by MD5 or
explicit hash key, per-shard sequence numbers) and lets tests inject failures.
"""

from __future__ import annotations

import enum
import random
import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError

from producers import (
    BufferFullError,
    DeliveryError,
    EventProducer,
    FailedRecord,
    FlushTimeoutError,
    InMemoryMetrics,
    InvalidEventError,
    InvalidExplicitHashKeyError,
    InvalidPartitionKeyError,
    Metric,
    ProducerClosedError,
    ProducerConfig,
    RecordExpiredError,
    RecordTooLargeError,
    SerializationError,
    StreamNotFoundError,
)
from producers.testing import InMemoryKinesis
from shardflow import envelope, kpl
from shardflow.hashing import MAX_HASH_KEY, hash_key

THROTTLED = "ProvisionedThroughputExceededException"
FAST = ProducerConfig(
    max_buffer_time=0.01, retry_base_delay=0.005, retry_max_delay=0.02, record_ttl=10.0
)


@pytest.fixture
def kinesis() -> InMemoryKinesis:
    fake = InMemoryKinesis()
    fake.create_stream("events", shard_count=4)
    return fake


@pytest.fixture
def producer(kinesis: InMemoryKinesis) -> Iterator[EventProducer]:
    with EventProducer("events", client=kinesis, config=FAST) as prod:
        yield prod


def _events(kinesis: InMemoryKinesis) -> list[tuple[str, str, dict[str, Any]]]:
    """(shard, partition key, envelope) of every event stored, in stream order per shard."""
    return [(shard, pk, orjson.loads(data)) for shard, pk, data in kinesis.user_records("events")]


def _check_per_key_order(rows: list[tuple[str, str, dict[str, Any]]]) -> None:
    last: dict[str, int] = {}
    for _shard, pk, env in rows:
        n = env["data"]["n"]
        assert n > last.get(pk, -1), f"key {pk}: {n} after {last[pk]}"
        last[pk] = n


def test_put_fills_the_envelope_and_reports_where_the_record_landed(
    producer: EventProducer, kinesis: InMemoryKinesis
) -> None:
    future = producer.put({"type": "page_view", "data": {"path": "/"}}, partition_key="user-42")
    result = future.result(timeout=10)
    ((shard, pk, env),) = _events(kinesis)
    assert (shard, pk) == (result.shard_id, "user-42")
    assert env["type"] == "page_view" and env["data"] == {"path": "/"}
    assert env["specversion"] == "1.0" and env["source"] == "shardflow"
    assert envelope.parse_time(env["time"])
    # Four shards split the hash range evenly: the MD5 of the key says which one.
    assert result.shard_id == f"shardId-{hash_key('user-42') * 4 >> 128:012d}"
    assert result.attempts == 1


def test_raw_bytes_are_sent_as_they_are(producer: EventProducer, kinesis: InMemoryKinesis) -> None:
    producer.put(b"\x00not json\xff", partition_key="k").result(timeout=10)
    producer.put(bytearray(b"ba"), partition_key="k").result(timeout=10)
    assert [data for _, _, data in kinesis.user_records("events")] == [b"\x00not json\xff", b"ba"]


def test_many_events_are_aggregated_per_shard_and_keep_per_key_order(
    kinesis: InMemoryKinesis,
) -> None:
    with EventProducer("events", client=kinesis, config=FAST) as producer:
        futures = [
            producer.put({"type": "t", "data": {"n": i}}, partition_key=f"user-{i % 97}")
            for i in range(5000)
        ]
    results = [f.result(timeout=10) for f in futures]
    rows = _events(kinesis)
    assert sorted(env["data"]["n"] for _, _, env in rows) == list(range(5000))
    _check_per_key_order(rows)
    stored = kinesis.records("events")
    assert len(stored) < 100  # aggregated: far fewer Kinesis records than events
    # Aggregation never mixes shards: every user record sits in the shard owning its key.
    for shard, pk, _ in rows:
        assert shard == f"shardId-{hash_key(pk) * 4 >> 128:012d}"
    assert {r.sub_sequence_number is not None for r in results} == {True}


def test_aggregation_off_sends_one_kinesis_record_per_event(kinesis: InMemoryKinesis) -> None:
    config = ProducerConfig(aggregation=False, max_buffer_time=0.01)
    with EventProducer("events", client=kinesis, config=config) as producer:
        futures = producer.put_many(
            [({"type": "t", "data": {"n": i}}, f"k{i % 10}") for i in range(300)]
        )
    assert len(kinesis.records("events")) == 300
    assert all(f.result(timeout=10).sub_sequence_number is None for f in futures)
    _check_per_key_order(_events(kinesis))
    assert max(kinesis.call_sizes) <= 10  # never two entries of one key in a call


def test_put_many_matches_put_and_validates_before_buffering(
    producer: EventProducer, kinesis: InMemoryKinesis
) -> None:
    futures = producer.put_many(
        [({"type": "t", "data": {"n": 0}}, "a"), (b"raw", "b", str(MAX_HASH_KEY))]
    )
    assert futures[1].result(timeout=10).shard_id == "shardId-000000000003"
    with pytest.raises(InvalidPartitionKeyError, match="record 1: partition_key must not be empty"):
        producer.put_many([({"type": "t", "data": {"n": 1}}, "a"), ({"type": "t"}, "")])
    producer.flush(timeout=10)
    assert len(kinesis.user_records("events")) == 2  # the valid record before it was not sent


def test_explicit_hash_key_routes_the_record(producer: EventProducer) -> None:
    top = producer.put(b"x", partition_key="k", explicit_hash_key=str(MAX_HASH_KEY))
    bottom = producer.put(b"x", partition_key="k", explicit_hash_key="0")
    assert top.result(timeout=10).shard_id == "shardId-000000000003"
    assert bottom.result(timeout=10).shard_id == "shardId-000000000000"


@pytest.mark.parametrize(
    ("event", "key", "ehk", "error", "text"),
    [
        ({"type": "t"}, "", None, InvalidPartitionKeyError, "must not be empty"),
        (
            {"type": "t"},
            "k" * 257,
            None,
            InvalidPartitionKeyError,
            "257 characters, more than the 256",
        ),
        ({"type": "t"}, 42, None, InvalidPartitionKeyError, "must be a str"),
        ({"type": "t", "data": {1, 2}}, "k", None, SerializationError, "cannot be serialised"),
        ({"type": "t", "data": object()}, "k", None, SerializationError, "cannot be serialised"),
        ("a string", "k", None, SerializationError, "mapping"),
        ({"data": {}}, "k", None, InvalidEventError, "'type'"),
        (b"x" * (1024 * 1024), "k", None, RecordTooLargeError, "max_record_bytes=1048576"),
        (b"x", "k", "abc", InvalidExplicitHashKeyError, "decimal"),
        (b"x", "k", str(MAX_HASH_KEY + 1), InvalidExplicitHashKeyError, r"exceeds 2\*\*128"),
    ],
)
def test_bad_input_raises_a_specific_error_naming_the_limit_or_field(
    producer: EventProducer,
    event: Any,
    key: Any,
    ehk: str | None,
    error: type[Exception],
    text: str,
) -> None:
    with pytest.raises(error, match=text):
        producer.put(event, partition_key=key, explicit_hash_key=ehk)
    assert producer.buffered_records == 0


def test_oversize_error_carries_size_and_limit(producer: EventProducer) -> None:
    with pytest.raises(RecordTooLargeError) as info:
        producer.put(b"x" * (1024 * 1024 - 1), partition_key="kk")
    assert (info.value.size, info.value.limit, info.value.field) == (
        1024 * 1024 + 1,
        1024 * 1024,
        "max_record_bytes",
    )


def test_unknown_stream_is_reported_by_the_constructor(kinesis: InMemoryKinesis) -> None:
    with pytest.raises(StreamNotFoundError, match="'missing' does not exist") as info:
        EventProducer("missing", client=kinesis, config=FAST)
    assert info.value.error_code == "ResourceNotFoundException"
    assert info.value.stream == "missing"


def test_put_after_close_is_an_error(kinesis: InMemoryKinesis) -> None:
    producer = EventProducer("events", client=kinesis, config=FAST)
    producer.close()
    producer.close()  # idempotent
    with pytest.raises(ProducerClosedError, match="closed"):
        producer.put(b"x", partition_key="k")
    with pytest.raises(ProducerClosedError):
        producer.put_many([(b"x", "k")])


def test_only_the_failed_entries_are_retried(kinesis: InMemoryKinesis) -> None:
    config = ProducerConfig(
        aggregation=False,
        max_buffer_time=0.05,
        retry_base_delay=0.005,
        retry_max_delay=0.01,
        max_in_flight_requests=1,  # one call carries all five
    )
    sent: list[list[str]] = []

    def fail_second_entry_once(call: int, index: int, entry: Mapping[str, Any]) -> str | None:
        return THROTTLED if call == 0 and index == 1 else None

    kinesis.fail_entry = fail_second_entry_once
    original = kinesis.put_records

    def recording_put_records(**kwargs: Any) -> dict[str, Any]:
        sent.append([r["PartitionKey"] for r in kwargs["Records"]])
        return original(**kwargs)

    kinesis.put_records = recording_put_records  # type: ignore[method-assign]
    metrics = InMemoryMetrics()
    with EventProducer("events", client=kinesis, config=config, metrics=metrics) as producer:
        futures = producer.put_many([(b"d", f"k{i}") for i in range(5)])
    assert sorted(sent[0]) == [f"k{i}" for i in range(5)]
    assert sent[1] == [sent[0][1]]  # the retry call carries the throttled entry alone
    assert len(sent) == 2
    attempts = {f.result(timeout=10).attempts for f in futures}
    assert attempts == {1, 2}
    assert len(kinesis.records("events")) == 5  # exactly once each
    assert metrics.counter(Metric.THROTTLES) == 1
    assert metrics.counter(Metric.RETRIES) == 1


def test_random_partial_failures_lose_nothing_and_keep_per_key_order(
    kinesis: InMemoryKinesis,
) -> None:
    rng = random.Random(3)
    lock = threading.Lock()

    def flaky(_call: int, _index: int, _entry: Mapping[str, Any]) -> str | None:
        with lock:
            return THROTTLED if rng.random() < 0.3 else None

    kinesis.fail_entry = flaky
    for aggregation in (True, False):
        config = ProducerConfig(
            aggregation=aggregation,
            max_buffer_time=0.005,
            retry_base_delay=0.001,
            retry_max_delay=0.005,
            max_record_bytes=4096,  # many small aggregates, so many of them fail
        )
        stream = f"events-{aggregation}"
        kinesis.create_stream(stream, shard_count=3)
        with EventProducer(stream, client=kinesis, config=config) as producer:
            futures = [
                producer.put({"type": "t", "data": {"n": i}}, partition_key=f"k{i % 7}")
                for i in range(1500)
            ]
        assert all(f.result(timeout=10) for f in futures)
        rows = [(shard, pk, orjson.loads(data)) for shard, pk, data in kinesis.user_records(stream)]
        assert sorted(env["data"]["n"] for _, _, env in rows) == list(range(1500))
        _check_per_key_order(rows)
        assert max(f.result().attempts for f in futures) > 1


def test_records_that_keep_failing_expire_and_go_to_on_failure(kinesis: InMemoryKinesis) -> None:
    kinesis.fail_entry = lambda _c, _i, _e: THROTTLED
    failures: list[FailedRecord] = []
    config = ProducerConfig(
        max_buffer_time=0.01, record_ttl=0.3, retry_base_delay=0.02, retry_max_delay=0.05
    )
    metrics = InMemoryMetrics()
    with EventProducer(
        "events", client=kinesis, config=config, on_failure=failures.append, metrics=metrics
    ) as producer:
        futures = [
            producer.put({"type": "t", "data": {"n": i}}, partition_key="k") for i in range(3)
        ]
        raw = producer.put(b"raw-bytes", partition_key="other")
    for fut in [*futures, raw]:
        error = fut.exception(timeout=10)
        assert isinstance(error, RecordExpiredError)
        assert error.error_code == THROTTLED
        assert error.attempts >= 2
        assert error.ttl == 0.3
        assert "record_ttl=0.3" in str(error)
    assert len(failures) == 4
    assert {f.partition_key for f in failures} == {"k", "other"}
    assert b"raw-bytes" in {f.data for f in failures}
    assert sorted(
        orjson.loads(f.data)["data"]["n"] for f in failures if f.partition_key == "k"
    ) == [0, 1, 2]
    assert all(f.future.exception() is f.error for f in failures)
    assert metrics.counter(Metric.USER_RECORDS_FAILED) == 4
    assert kinesis.records("events") == []


def test_non_retryable_error_fails_at_once_with_the_aws_code(kinesis: InMemoryKinesis) -> None:
    kinesis.fail_call = lambda _call, _records: "AccessDeniedException"
    failures: list[FailedRecord] = []
    with EventProducer("events", client=kinesis, config=FAST, on_failure=failures.append) as prod:
        future = prod.put(b"x", partition_key="k")
    error = future.exception(timeout=10)
    assert isinstance(error, DeliveryError) and not isinstance(error, RecordExpiredError)
    assert error.error_code == "AccessDeniedException" and error.attempts == 1
    assert [f.data for f in failures] == [b"x"]


def test_deleted_stream_fails_records_with_stream_not_found(kinesis: InMemoryKinesis) -> None:
    producer = EventProducer("events", client=kinesis, config=FAST)
    kinesis._streams.clear()  # the stream is deleted while the producer runs
    future = producer.put(b"x", partition_key="k")
    producer.close()
    assert isinstance(future.exception(timeout=10), StreamNotFoundError)


def test_client_raising_something_unexpected_fails_records_instead_of_hanging(
    kinesis: InMemoryKinesis,
) -> None:
    def broken(**_kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    kinesis.put_records = broken  # type: ignore[method-assign]
    with EventProducer("events", client=kinesis, config=FAST) as producer:
        future = producer.put(b"x", partition_key="k")
    error = future.exception(timeout=10)
    assert isinstance(error, DeliveryError) and "RuntimeError: boom" in str(error)


class GatedKinesis(InMemoryKinesis):
    """PutRecords blocks until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.create_stream("events", 1)

    def put_records(self, **kwargs: Any) -> dict[str, Any]:
        self.entered.set()
        assert self.gate.wait(timeout=30)
        return super().put_records(**kwargs)


def test_full_buffer_blocks_put_then_raises_naming_the_limit() -> None:
    kinesis = GatedKinesis()
    config = ProducerConfig(max_buffer_bytes=1024 * 1024, put_timeout=0.2, max_buffer_time=0.001)
    producer = EventProducer("events", client=kinesis, config=config)
    try:
        producer.put(b"a" * 600_000, partition_key="k")
        with pytest.raises(BufferFullError, match="max_buffer_bytes=1048576") as info:
            producer.put(b"b" * 600_000, partition_key="k")
        assert info.value.timeout == 0.2
        with pytest.raises(BufferFullError) as many:
            producer.put_many([(b"c" * 100, "k"), (b"d" * 600_000, "k")])
        assert len(many.value.accepted) == 1
        kinesis.gate.set()
        # Room comes back as soon as the first records are delivered.
        producer.put(b"e" * 600_000, partition_key="k").result(timeout=10)
    finally:
        kinesis.gate.set()
        producer.close()
    assert len(kinesis.user_records("events")) == 3


def test_flush_waits_for_delivery_and_can_time_out() -> None:
    kinesis = GatedKinesis()
    producer = EventProducer("events", client=kinesis, config=FAST)
    try:
        future = producer.put(b"x", partition_key="k")
        with pytest.raises(FlushTimeoutError, match="1 records still undelivered") as info:
            producer.flush(timeout=0.1)
        assert info.value.pending == 1
        kinesis.gate.set()
        producer.flush(timeout=10)
        assert future.done() and producer.buffered_records == 0
    finally:
        kinesis.gate.set()
        producer.close()


def test_close_with_a_timeout_fails_what_it_could_not_send() -> None:
    kinesis = GatedKinesis()
    failures: list[FailedRecord] = []

    def on_failure(failed: FailedRecord) -> None:
        failures.append(failed)
        # close() gave up on what was queued: only now may the call in flight come back.
        kinesis.gate.set()

    producer = EventProducer("events", client=kinesis, config=FAST, on_failure=on_failure)
    first = producer.put(b"in flight", partition_key="k")
    assert kinesis.entered.wait(timeout=10)  # its PutRecords call is in flight now
    second = producer.put(b"queued", partition_key="k")
    producer.close(timeout=0.1)
    assert isinstance(second.exception(timeout=10), ProducerClosedError)
    assert first.result(timeout=10).shard_id == "shardId-000000000000"  # its call completed
    assert [f.data for f in failures] == [b"queued"]


def test_close_under_load_delivers_everything(kinesis: InMemoryKinesis) -> None:
    producer = EventProducer("events", client=kinesis, config=ProducerConfig(max_buffer_time=1.0))
    futures: list[Any] = []
    threads = [
        threading.Thread(
            target=lambda t=t: futures.extend(
                producer.put(
                    {"type": "t", "data": {"n": t * 10_000 + i}}, partition_key=f"{t}-{i % 5}"
                )
                for i in range(2000)
            )
        )
        for t in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    producer.close()
    assert len(futures) == 8000 and all(f.done() and f.exception() is None for f in futures)
    assert len(kinesis.user_records("events")) == 8000


def test_single_shard_stream(kinesis: InMemoryKinesis) -> None:
    kinesis.create_stream("one", 1)
    with EventProducer("one", client=kinesis, config=FAST) as producer:
        futures = [producer.put(b"x", partition_key=f"k{i}") for i in range(10)]
    assert {f.result(timeout=10).shard_id for f in futures} == {"shardId-000000000000"}


def test_metrics_count_what_was_delivered(kinesis: InMemoryKinesis) -> None:
    metrics = InMemoryMetrics()
    with EventProducer("events", client=kinesis, config=FAST, metrics=metrics) as producer:
        producer.put_many([({"type": "t", "data": {"n": i}}, f"k{i}") for i in range(200)])
    assert metrics.counter(Metric.USER_RECORDS_PUT) == 200
    assert metrics.counter(Metric.KINESIS_RECORDS_PUT) == len(kinesis.records("events"))
    assert metrics.counter(Metric.BYTES_PUT) == sum(
        len(r.data) + len(r.partition_key) for r in kinesis.records("events")
    )
    assert metrics.observations(Metric.REQUEST_LATENCY)


def _kcl_view(kinesis: InMemoryKinesis, stream: str) -> list[tuple[str, bytes]]:
    """What a KCL worker would hand to processors: de-aggregated user records, minus those
    whose hash key is outside the shard's range (the KCL discards them)."""
    ranges = {
        s["ShardId"]: (
            int(s["HashKeyRange"]["StartingHashKey"]),
            int(s["HashKeyRange"]["EndingHashKey"]),
        )
        for s in kinesis.list_shards(StreamName=stream)["Shards"]
    }
    out = []
    for rec in kinesis.records(stream):
        low, high = ranges[rec.shard_id]
        users = (
            [(u.partition_key, u.data, u.explicit_hash_key) for u in kpl.deaggregate(rec.data)]
            if kpl.is_aggregated(rec.data)
            else [(rec.partition_key, rec.data, rec.explicit_hash_key)]
        )
        for pk, data, ehk in users:
            key = int(ehk) if ehk else hash_key(pk)
            if low <= key <= high:
                out.append((pk, data))
    return out


def test_resharding_mid_run_refreshes_the_map_and_loses_nothing(kinesis: InMemoryKinesis) -> None:
    metrics = InMemoryMetrics()
    config = ProducerConfig(max_buffer_time=0.005, shard_map_refresh_interval=0.0)
    with EventProducer("events", client=kinesis, config=config, metrics=metrics) as producer:
        before = producer.shard_ids
        futures = [
            producer.put({"type": "t", "data": {"n": i}}, partition_key=f"user-{i % 50}")
            for i in range(2000)
        ]
        producer.flush(timeout=10)
        quarter = (MAX_HASH_KEY + 1) // 4
        kinesis.split_shard("events", "shardId-000000000000", quarter // 2)
        kinesis.split_shard("events", "shardId-000000000002", 2 * quarter + quarter // 3)
        futures += [
            producer.put({"type": "t", "data": {"n": i}}, partition_key=f"user-{i % 50}")
            for i in range(2000, 6000)
        ]
        producer.flush(timeout=10)
        after = producer.shard_ids
    assert len(before) == 4 and len(after) == 6
    assert "shardId-000000000000" not in after
    assert metrics.counter(Metric.SHARD_MAP_REFRESHES) >= 1
    assert all(f.exception(timeout=10) is None for f in futures)
    # Every event exactly once for a KCL consumer, in put order per key.
    seen = _kcl_view(kinesis, "events")
    numbers = [orjson.loads(data)["data"]["n"] for _, data in seen]
    assert sorted(numbers) == list(range(6000))
    last: dict[str, int] = {}
    for pk, data in seen:
        n = orjson.loads(data)["data"]["n"]
        assert n > last.get(pk, -1)
        last[pk] = n
    # After the refresh, records land on the shard they were predicted for.
    late = [f.result() for f in futures[-500:]]
    assert {r.shard_id for r in late} <= set(after)


def test_a_str_enum_partition_key_is_sent_as_its_value(
    producer: EventProducer, kinesis: InMemoryKinesis
) -> None:
    class Region(enum.StrEnum):
        EU = "eu-west-1"

    producer.put(b"x", partition_key=Region.EU).result(timeout=10)
    producer.put_many([(b"y", Region.EU)])[0].result(timeout=10)
    assert [(pk, type(pk)) for _, pk, _ in kinesis.user_records("events")] == [
        ("eu-west-1", str),
        ("eu-west-1", str),
    ]


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("ok\ud800", "lone surrogate at index 2"),  # cannot be encoded: not even UTF-8
        ("😀" * 129, "258 characters, more than the 256 Kinesis allows (counted in UTF-16"),
    ],
)
def test_partition_keys_kinesis_would_refuse_are_refused_by_put(
    producer: EventProducer, key: str, text: str
) -> None:
    # Sent, such a key would fail the whole PutRecords call with a ValidationException, and
    # with it every record of every shard in that call.
    with pytest.raises(InvalidPartitionKeyError, match=re.escape(text)):
        producer.put(b"x", partition_key=key)
    with pytest.raises(InvalidPartitionKeyError, match=re.escape(text)):
        producer.put_many([(b"x", key)])
    assert producer.buffered_records == 0
    # 128 emoji are 256 UTF-16 code units: accepted, and routed by the MD5 of its UTF-8.
    producer.put(b"x", partition_key="😀" * 128).result(timeout=10)


def test_explicit_hash_keys_are_sent_in_the_form_kinesis_accepts(
    producer: EventProducer, kinesis: InMemoryKinesis
) -> None:
    # Kinesis takes 0|[1-9][0-9]{0,38}: other scripts' digits pass str.isdigit() and int().
    with pytest.raises(InvalidExplicitHashKeyError, match="decimal"):
        producer.put(b"x", partition_key="k", explicit_hash_key="\u0663")  # ARABIC-INDIC 3
    producer.put(b"x", partition_key="k", explicit_hash_key="0007").result(timeout=10)
    producer.put_many([(b"y", "k", "0042")])[0].result(timeout=10)
    assert [r.explicit_hash_key for r in kinesis.records("events")] == ["7", "42"]


class BrokenMetrics(InMemoryMetrics):
    """A collector that fails like one writing to a closed stream."""

    def increment(self, name: str, value: int = 1) -> None:
        raise ValueError("I/O operation on closed file")

    def observe(self, name: str, value: float) -> None:
        raise ValueError("I/O operation on closed file")


def test_a_failing_metrics_collector_does_not_strand_records(kinesis: InMemoryKinesis) -> None:
    producer = EventProducer("events", client=kinesis, config=FAST, metrics=BrokenMetrics())
    futures = [producer.put(b"x", partition_key=f"k{i}") for i in range(100)]
    closer = threading.Thread(target=producer.close)
    closer.start()
    closer.join(timeout=30)
    assert not closer.is_alive(), "close() hung: a sender thread died with records in flight"
    assert all(f.result(timeout=0).shard_id for f in futures)


def test_records_failed_after_close_timed_out_are_counted() -> None:
    kinesis = GatedKinesis()
    kinesis.fail_entry = lambda _c, _i, _e: THROTTLED  # the call in flight comes back failed
    metrics = InMemoryMetrics()
    failed: list[bytes] = []

    def on_failure(record: FailedRecord) -> None:
        failed.append(record.data)
        if record.data == b"queued":  # close() gave up: now the call in flight comes back
            kinesis.gate.set()

    producer = EventProducer(
        "events", client=kinesis, config=FAST, metrics=metrics, on_failure=on_failure
    )
    future = producer.put(b"in flight", partition_key="k")
    assert kinesis.entered.wait(timeout=10)
    queued = producer.put(b"queued", partition_key="k")
    producer.close(timeout=0.1)  # gives up; the throttled entry is not retried after that
    assert isinstance(queued.exception(timeout=10), ProducerClosedError)
    assert isinstance(future.exception(timeout=10), ProducerClosedError)
    # Both count: the queued record close() failed, and the one in flight that came back
    # throttled after close() had given up.
    assert failed == [b"queued", b"in flight"]
    assert metrics.counter(Metric.USER_RECORDS_FAILED) == 2


def test_a_failed_shard_map_refresh_is_tried_again_before_misplaced_records_count(
    kinesis: InMemoryKinesis,
) -> None:
    config = ProducerConfig(max_buffer_time=0.005, shard_map_refresh_interval=0.0)
    original = kinesis.list_shards
    denied = [0]

    def list_shards(**kwargs: Any) -> Any:
        if denied[0]:  # the refreshes after the split fail a few times
            denied[0] -= 1
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "X")
        return original(**kwargs)

    kinesis.list_shards = list_shards  # type: ignore[method-assign]
    with EventProducer("events", client=kinesis, config=config) as producer:
        futures = [
            producer.put({"type": "t", "data": {"n": i}}, partition_key=f"user-{i % 50}")
            for i in range(500)
        ]
        producer.flush(timeout=10)
        quarter = (MAX_HASH_KEY + 1) // 4
        kinesis.split_shard("events", "shardId-000000000000", quarter // 2)
        denied[0] = 3
        futures += [
            producer.put({"type": "t", "data": {"n": i}}, partition_key=f"user-{i % 50}")
            for i in range(500, 3000)
        ]
        producer.flush(timeout=30)
        assert "shardId-000000000000" not in producer.shard_ids
    assert denied[0] == 0
    assert all(f.exception(timeout=10) is None for f in futures)
    # A KCL consumer skips records outside its shard's range: every event must still be
    # readable exactly once, in put order per key.
    seen = _kcl_view(kinesis, "events")
    assert sorted(orjson.loads(data)["data"]["n"] for _, data in seen) == list(range(3000))
    last: dict[str, int] = {}
    for pk, data in seen:
        n = orjson.loads(data)["data"]["n"]
        assert n > last.get(pk, -1)
        last[pk] = n


def test_the_issue_example_works_as_written(kinesis: InMemoryKinesis) -> None:
    kinesis_client = kinesis
    with EventProducer(
        "events", config=ProducerConfig(max_buffer_time=0.01), client=kinesis_client
    ) as producer:
        future = producer.put({"type": "page_view", "data": {"path": "/"}}, partition_key="user-42")
        result = future.result(timeout=10)  # inside the block: the buffer time sends it
    producer.flush()  # after close: nothing left, returns at once
    assert result.shard_id.startswith("shardId-") and int(result.sequence_number) >= 0
    assert future.exception() is None
    called: list[Any] = []
    future.add_done_callback(called.append)
    assert called == [future]


def test_the_stream_can_be_named_by_arn(kinesis: InMemoryKinesis) -> None:
    arn = "arn:aws:kinesis:us-east-1:123456789012:stream/events"
    with EventProducer(stream_arn=arn, client=kinesis, config=FAST) as producer:
        assert producer.put(b"x", partition_key="k").result(timeout=10).shard_id
        assert producer.stream == arn
    with pytest.raises(ValueError, match="not both"):
        EventProducer("events", stream_arn=arn, client=kinesis)
    with pytest.raises(ValueError, match="must be a stream ARN"):
        EventProducer(stream_arn="events", client=kinesis)


def test_an_on_failure_callback_that_raises_does_not_stop_delivery(
    kinesis: InMemoryKinesis,
) -> None:
    kinesis.fail_entry = lambda call, _i, _e: "KMSAccessDeniedException" if call == 0 else None
    seen: list[FailedRecord] = []

    def explode(failed: FailedRecord) -> None:
        seen.append(failed)
        raise RuntimeError("callback bug")

    config = ProducerConfig(max_buffer_time=0.005, max_in_flight_requests=1)
    with EventProducer("events", client=kinesis, config=config, on_failure=explode) as producer:
        first = producer.put(b"a", partition_key="k")
        assert isinstance(first.exception(timeout=10), DeliveryError)
        later = [producer.put(b"b", partition_key=f"k{i}") for i in range(50)]
    assert len(seen) == 1 and seen[0].error.error_code == "KMSAccessDeniedException"
    assert all(f.result(timeout=10).shard_id for f in later)
