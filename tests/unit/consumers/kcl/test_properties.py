"""The daemon's properties file says what the user asked, in a form the KCL reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consumers.kcl.properties import LOCAL_TIMINGS, DaemonProperties
from shardflow.errors import ConfigError


def _props(**kw: object) -> DaemonProperties:
    base: dict[str, object] = {
        "stream": "orders",
        "application": "orders-app",
        "executable": "/usr/bin/python3 -m consumers.kcl",
        "region": "eu-west-1",
    }
    base.update(kw)
    return DaemonProperties(**base)  # type: ignore[arg-type]


def _parse(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition(" = ")
            out[key] = value
    return out


def test_render_names_stream_application_and_processor() -> None:
    props = _parse(_props().render())
    assert props["streamName"] == "orders"
    assert props["applicationName"] == "orders-app"
    assert props["executableName"] == "/usr/bin/python3 -m consumers.kcl"
    assert props["regionName"] == "eu-west-1"
    assert props["AwsCredentialsProvider"] == "DefaultCredentialsProvider"
    assert props["initialPositionInStream"] == "TRIM_HORIZON"
    assert props["callProcessRecordsEvenForEmptyRecordList"] == "true"
    assert "kinesisEndpoint" not in props
    assert "failoverTimeMillis" not in props  # the KCL's own default against AWS


def test_endpoint_sets_kinesis_and_dynamodb_endpoints() -> None:
    props = _parse(
        _props(endpoint_url="http://127.0.0.1:4566", timings=dict(LOCAL_TIMINGS)).render()
    )
    assert props["kinesisEndpoint"] == "http://127.0.0.1:4566"
    assert props["dynamoDBEndpoint"] == "http://127.0.0.1:4566"
    assert props["failoverTimeMillis"] == "5000"
    assert props["shardSyncIntervalMillis"] == "5000"


def test_at_timestamp_writes_epoch_seconds() -> None:
    when = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    props = _parse(_props(initial_position="AT_TIMESTAMP", initial_timestamp=when).render())
    assert props["initialPositionInStream"] == "AT_TIMESTAMP"
    assert props["initialPositionInStreamExtended"] == str(int(when.timestamp()))


def test_extra_properties_override_and_backslashes_are_escaped() -> None:
    props = _parse(_props(extra=(("maxRecords", "500"), ("workerId", r"a\b"))).render())
    assert props["maxRecords"] == "500"
    assert props["workerId"] == r"a\\b"


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"application": "ab"}, "application"),
        ({"application": "has space"}, "application"),
        ({"stream": "bad/name"}, "stream"),
        ({"initial_position": "AT_TIMESTAMP"}, "initial_timestamp"),
        ({"max_records": 10_001}, "max_records"),
        ({"shutdown_grace_millis": 0}, "shutdown_grace_millis"),
        ({"timings": {"failoverTimeMillis": 0}}, "timings.failoverTimeMillis"),
        ({"timings": {"noSuchTiming": 5}}, "timings"),
        ({"extra": (("bad key", "x"),)}, "extra"),
        ({"extra": (("workerId", "a\nb"),)}, "extra.workerId"),
        ({"metrics_level": "LOUD"}, "metrics_level"),
    ],
)
def test_invalid_settings_name_the_field(kw: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        _props(**kw)
    assert info.value.field == field
