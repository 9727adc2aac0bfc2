"""The AWS boundary over real HTTP: retries happen once (in the producer, not also inside
botocore), whole-call errors are classified, and a dead endpoint ends every future."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from producers import (
    DeliveryError,
    EventProducer,
    ProducerConfig,
    ProducerError,
    RecordExpiredError,
)
from producers.client import StreamClient, default_kinesis_client
from producers.testing import InMemoryKinesis

QUICK = ProducerConfig(
    max_buffer_time=0.005, retry_base_delay=0.01, retry_max_delay=0.02, record_ttl=0.5
)


def _client(url: str) -> Any:
    return default_kinesis_client(4, endpoint_url=url, region="us-east-1")


def test_each_producer_attempt_is_one_http_request(http_kinesis: Any) -> None:
    # botocore would retry a 503 on its own; with both layers retrying, every producer
    # attempt became several HTTP requests with botocore's backoff in between.
    http_kinesis.answer_put = lambda _n, _recs: http_kinesis.error(503, "ServiceUnavailable")
    with EventProducer("events", client=_client(http_kinesis.url), config=QUICK) as producer:
        future = producer.put(b"x", partition_key="k")
    error = future.exception(timeout=10)
    assert isinstance(error, RecordExpiredError)
    assert error.error_code == "ServiceUnavailable" and error.attempts >= 2
    assert http_kinesis.requests["PutRecords"] == error.attempts


def test_a_proxy_error_page_is_retried(http_kinesis: Any) -> None:
    # A load balancer's 502 has an HTML body: botocore names the error "502".
    def answer(n: int, records: list[dict[str, Any]]) -> Any:
        if n == 0:
            return 502, "text/html", b"<html><body>502 Bad Gateway</body></html>"
        return http_kinesis.ok_put(records)

    http_kinesis.answer_put = answer
    with EventProducer("events", client=_client(http_kinesis.url), config=QUICK) as producer:
        future = producer.put(b"x", partition_key="k")
    assert future.result(timeout=10).attempts == 2
    assert http_kinesis.written == [b"x"]


@pytest.mark.parametrize(
    "code", ["ExpiredTokenException", "AccessDeniedException", "ValidationException"]
)
def test_terminal_whole_call_errors_fail_every_record_of_the_call_at_once(
    http_kinesis: Any, code: str
) -> None:
    http_kinesis.answer_put = lambda _n, _recs: http_kinesis.error(400, code, "no")
    config = ProducerConfig(max_buffer_time=0.05, record_ttl=30.0)
    with EventProducer("events", client=_client(http_kinesis.url), config=config) as producer:
        futures = producer.put_many([(b"x", f"k{i}") for i in range(20)])
    errors = [f.exception(timeout=10) for f in futures]
    assert all(
        isinstance(e, DeliveryError) and not isinstance(e, RecordExpiredError) for e in errors
    )
    assert {e.error_code for e in errors if e is not None} == {code}
    assert all(code in str(e) for e in errors)
    assert http_kinesis.requests["PutRecords"] == 1


def test_close_with_a_dead_endpoint_under_load_ends_every_future(http_kinesis: Any) -> None:
    http_kinesis.answer_put = lambda _n, _recs: None  # the connection drops, no answer
    failed: list[Any] = []
    with EventProducer(
        "events", client=_client(http_kinesis.url), config=QUICK, on_failure=failed.append
    ) as producer:
        futures = [
            producer.put({"type": "t", "data": {"n": i}}, partition_key=f"k{i % 50}")
            for i in range(3000)
        ]
    # close() returned: bounded by record_ttl, every future ended with the last error
    # (None for aggregates that waited behind the failing one and were never sent).
    errors = [f.exception(timeout=0) for f in futures]
    assert all(isinstance(e, RecordExpiredError) for e in errors)
    codes = {e.error_code for e in errors if e is not None}
    assert "ConnectionError" in codes and codes <= {"ConnectionError", None}
    assert len(failed) == 3000


def test_a_call_that_cannot_be_made_fails_at_once_with_its_reason() -> None:
    kinesis = InMemoryKinesis()
    kinesis.create_stream("events", 1)

    def no_credentials(**_kwargs: Any) -> Any:
        raise NoCredentialsError()

    kinesis.put_records = no_credentials  # type: ignore[method-assign]
    config = ProducerConfig(max_buffer_time=0.005, record_ttl=30.0)
    with EventProducer("events", client=kinesis, config=config) as producer:
        future = producer.put(b"x", partition_key="k")
    error = future.exception(timeout=10)
    # Not "ConnectionError, retried for 30 s": no retry makes credentials appear.
    assert isinstance(error, DeliveryError) and not isinstance(error, RecordExpiredError)
    assert error.error_code == "NoCredentialsError" and error.attempts == 1
    assert "Unable to locate credentials" in str(error)


def test_list_shards_is_retried_when_throttled() -> None:
    kinesis = InMemoryKinesis()
    kinesis.create_stream("events", 2)
    original = kinesis.list_shards
    calls = []

    def throttled_twice(**kwargs: Any) -> Any:
        calls.append(kwargs)
        if len(calls) <= 2:
            raise ClientError(
                {"Error": {"Code": "LimitExceededException", "Message": "Rate exceeded"}},
                "ListShards",
            )
        return original(**kwargs)

    kinesis.list_shards = throttled_twice  # type: ignore[method-assign]
    client = StreamClient(kinesis, "events", sleep=lambda _s: None)
    assert len(client.list_shards()) == 2
    assert len(calls) == 3


def test_list_shards_gives_up_on_errors_a_retry_cannot_fix() -> None:
    kinesis = InMemoryKinesis()
    calls = []

    def denied(**kwargs: Any) -> Any:
        calls.append(kwargs)
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "X")

    kinesis.list_shards = denied  # type: ignore[method-assign]
    with pytest.raises(ProducerError) as info:
        StreamClient(kinesis, "events", sleep=lambda _s: None).list_shards()
    assert info.value.error_code == "AccessDeniedException" and len(calls) == 1
