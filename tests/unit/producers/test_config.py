"""ProducerConfig: AWS defaults, validation naming the field, environment overrides."""

from __future__ import annotations

import pytest

from producers import ProducerConfig
from shardflow.errors import ConfigError


def test_defaults_match_the_aws_limits() -> None:
    cfg = ProducerConfig()
    assert cfg.max_batch_records == 500
    assert cfg.max_record_bytes == 1024 * 1024
    assert cfg.max_request_bytes == 5 * 1024 * 1024
    assert cfg.shard_records_per_second == 1000
    assert cfg.shard_bytes_per_second == 1024 * 1024
    assert cfg.max_buffer_time == 0.1
    assert cfg.aggregation is True


@pytest.mark.parametrize(
    ("kwargs", "field", "text"),
    [
        ({"max_batch_records": 501}, "max_batch_records", "between 1 and 500"),
        ({"max_batch_records": 0}, "max_batch_records", "between 1 and 500"),
        ({"max_record_bytes": 11 * 1024 * 1024}, "max_record_bytes", "10485760"),
        ({"max_request_bytes": 512 * 1024}, "max_request_bytes", "between 1048576"),
        ({"max_buffer_bytes": 1024}, "max_buffer_bytes", ">= 1048576"),
        ({"record_ttl": 0}, "record_ttl", ">= 0.001"),
        ({"retry_base_delay": 1.0, "retry_max_delay": 0.5}, "retry_max_delay", ">= 1.0"),
        ({"shard_records_per_second": 0}, "shard_records_per_second", ">= 1"),
        ({"put_timeout": -1.0}, "put_timeout", ">= 0.0"),
        ({"max_in_flight_requests": 0}, "max_in_flight_requests", "between 1 and 64"),
        ({"source": ""}, "source", "non-empty"),
        ({"aggregation": "yes"}, "aggregation", "bool"),
        ({"max_buffer_time": float("nan")}, "max_buffer_time", "number"),
        ({"max_batch_records": 2.5}, "max_batch_records", "integer"),
    ],
)
def test_invalid_values_name_the_field_and_limit(
    kwargs: dict[str, object], field: str, text: str
) -> None:
    with pytest.raises(ConfigError) as info:
        ProducerConfig(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert text in str(info.value)
    assert str(info.value).startswith(field)


def test_ten_mib_records_are_allowed_when_the_request_limit_follows() -> None:
    cfg = ProducerConfig(max_record_bytes=10 * 1024 * 1024, max_request_bytes=10 * 1024 * 1024)
    assert cfg.max_record_bytes == cfg.max_request_bytes


def test_from_env_reads_variables_and_explicit_arguments_win() -> None:
    env = {
        "SHARDFLOW_PRODUCER_AGGREGATION": "false",
        "SHARDFLOW_PRODUCER_MAX_BUFFER_TIME": "0.25",
        "SHARDFLOW_PRODUCER_SHARD_BYTES_PER_SECOND": "none",
        "SHARDFLOW_PRODUCER_MAX_BATCH_RECORDS": "100",
        "SHARDFLOW_PRODUCER_SOURCE": "app/checkout",
    }
    cfg = ProducerConfig.from_env(env, max_batch_records=200)
    assert cfg.aggregation is False
    assert cfg.max_buffer_time == 0.25
    assert cfg.shard_bytes_per_second is None
    assert cfg.max_batch_records == 200
    assert cfg.source == "app/checkout"
    assert ProducerConfig.from_env({}) == ProducerConfig()


def test_from_env_names_the_variable_that_does_not_parse() -> None:
    with pytest.raises(ConfigError, match="SHARDFLOW_PRODUCER_RECORD_TTL"):
        ProducerConfig.from_env({"SHARDFLOW_PRODUCER_RECORD_TTL": "soon"})
    with pytest.raises(ConfigError, match="SHARDFLOW_PRODUCER_AGGREGATION"):
        ProducerConfig.from_env({"SHARDFLOW_PRODUCER_AGGREGATION": "maybe"})
    with pytest.raises(ConfigError, match="max_batch_records"):
        ProducerConfig.from_env({"SHARDFLOW_PRODUCER_MAX_BATCH_RECORDS": "900"})
    with pytest.raises(ConfigError, match="not a ProducerConfig field"):
        ProducerConfig.from_env({}, batch_size=3)
