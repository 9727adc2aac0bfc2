"""Metrics collectors: in-memory totals and CloudWatch EMF documents."""

from __future__ import annotations

import io
import logging

import orjson
import pytest

from producers import EmfMetrics, InMemoryMetrics, Metric, MetricsCollector, NullMetrics


def test_collectors_satisfy_the_interface() -> None:
    for collector in (NullMetrics(), InMemoryMetrics(), EmfMetrics(output=io.StringIO())):
        assert isinstance(collector, MetricsCollector)


def test_in_memory_metrics_sum_counters_and_keep_observations() -> None:
    metrics = InMemoryMetrics()
    metrics.increment(Metric.USER_RECORDS_PUT, 10)
    metrics.increment(Metric.USER_RECORDS_PUT)
    metrics.observe(Metric.REQUEST_LATENCY, 12.5)
    assert metrics.counter(Metric.USER_RECORDS_PUT) == 11
    assert metrics.counter(Metric.RETRIES) == 0
    assert metrics.observations(Metric.REQUEST_LATENCY) == [12.5]
    assert metrics.snapshot() == {Metric.USER_RECORDS_PUT: 11}


def test_emf_document_is_what_cloudwatch_expects() -> None:
    out = io.StringIO()
    clock = iter([1000.0, 1001.0, 1001.0, 1001.0, 1001.5, 1001.5])
    metrics = EmfMetrics(
        "shardflow/test",
        dimensions={"StreamName": "events"},
        output=out,
        interval=3600,
        clock=lambda: next(clock),
    )
    metrics.increment(Metric.USER_RECORDS_PUT, 500)
    metrics.observe(Metric.REQUEST_LATENCY, 20.0)
    metrics.flush()
    doc = orjson.loads(out.getvalue())
    assert doc["StreamName"] == "events"
    assert doc["UserRecordsPut"] == 500
    assert doc["RequestLatency"] == [20.0]
    meta = doc["_aws"]
    assert meta["Timestamp"] == 1001500
    directive = meta["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "shardflow/test"
    assert directive["Dimensions"] == [["StreamName"]]
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units == {"UserRecordsPut": "Count", "RequestLatency": "Milliseconds"}


def test_emf_splits_more_than_100_values_and_skips_empty_flushes() -> None:
    lines: list[str] = []
    metrics = EmfMetrics(output=lines.append, interval=3600)
    metrics.flush()
    assert lines == []
    for i in range(250):
        metrics.observe(Metric.BUFFERING_TIME, float(i))
    metrics.flush()
    docs = [orjson.loads(line) for line in lines]
    assert [len(d["BufferingTime"]) for d in docs] == [100, 100, 50]


def test_emf_writes_on_its_interval_and_to_a_logger(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    logger = logging.getLogger("emf-test")
    metrics = EmfMetrics(output=logger, interval=60, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="emf-test"):
        metrics.increment(Metric.RETRIES)
        assert not caplog.records
        now[0] = 61.0
        metrics.increment(Metric.RETRIES)
    assert len(caplog.records) == 1
    assert orjson.loads(caplog.records[0].getMessage())["Retries"] == 2


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"dimensions": {"ShardCount": 4}}, "must be strings"),
        ({"dimensions": {f"d{i}": "x" for i in range(31)}}, "at most 30 dimensions"),
        ({"namespace": ""}, "1 to 255"),
    ],
)
def test_emf_refuses_settings_cloudwatch_would_drop(kwargs: dict[str, object], text: str) -> None:
    with pytest.raises(ValueError, match=text):
        EmfMetrics(output=io.StringIO(), **kwargs)  # type: ignore[arg-type]


def test_emf_without_dimensions_has_one_empty_dimension_set() -> None:
    lines: list[str] = []
    metrics = EmfMetrics(output=lines.append, interval=3600)
    metrics.increment(Metric.USER_RECORDS_PUT, 3)
    metrics.flush()
    directive = orjson.loads(lines[0])["_aws"]["CloudWatchMetrics"][0]
    assert directive["Dimensions"] == [[]]
    assert directive["Metrics"] == [{"Name": "UserRecordsPut", "Unit": "Count"}]
