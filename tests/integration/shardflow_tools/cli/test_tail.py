"""`shardflow tail --stream NAME --from ...`: a stream's events as JSON lines, KPL
aggregates taken apart."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from shardflow_tools.cli import main


def _stream(aws_client: Callable[[str], Any], name: str) -> Any:
    kinesis = aws_client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50}
    )
    return kinesis


def test_tail_from_trim_horizon_deaggregates_and_decodes(
    aws_client: Callable[[str], Any],
    unique_name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = unique_name("tail")
    kinesis = _stream(aws_client, stream)
    events = b"".join(b'{"type": "t", "data": {"n": %d}}\n' % n for n in range(20))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(events)))
    assert main(["produce", "--stream", stream, "--key", "data.n"]) == 0  # aggregated
    kinesis.put_record(StreamName=stream, Data=b"\xff\x00 not json", PartitionKey="raw")
    capsys.readouterr()
    assert main(["tail", "--stream", stream, "--from", "trim-horizon", "--no-follow"]) == 0
    lines = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    decoded = [line for line in lines if "event" in line]
    assert sorted(e["event"]["data"]["n"] for e in decoded) == list(range(20))
    assert all(e["partition_key"] == str(e["event"]["data"]["n"]) for e in decoded)
    assert any("sub_sequence_number" in e for e in decoded)
    (raw,) = [line for line in lines if "event" not in line]
    assert raw["partition_key"] == "raw" and "data_base64" in raw


def test_tail_from_latest_sees_only_new_records(
    aws_client: Callable[[str], Any],
    unique_name: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = unique_name("tail")
    kinesis = _stream(aws_client, stream)
    kinesis.put_record(StreamName=stream, Data=b'{"old": 1}', PartitionKey="k")
    assert main(["tail", "--stream", stream, "--from", "latest", "--no-follow"]) == 0
    assert capsys.readouterr().out == ""


def test_a_bad_from_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tail", "--stream", "s", "--from", "yesterday"]) == 2
    assert "shardflow tail: --from: expected trim-horizon, latest or a time" in (
        capsys.readouterr().err
    )


def test_a_missing_stream_is_one_line(
    aws_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tail", "--stream", "sf-no-such-stream", "--no-follow"]) == 1
    err = capsys.readouterr().err
    assert "stream 'sf-no-such-stream' not found" in err and "Traceback" not in err
