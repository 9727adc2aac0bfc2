"""Issue 15.9: `produce` words its errors for the command line, keys raw lines by a JSON
path, and sends raw lines byte for byte."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shardflow_tools.cli import main


def _stream(aws_client: Callable[[str], Any], name: str) -> Any:
    kinesis = aws_client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50}
    )
    return kinesis


def _records(kinesis: Any, stream: str) -> list[tuple[str, bytes]]:
    out = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        it = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        out += [
            (r["PartitionKey"], r["Data"]) for r in kinesis.get_records(ShardIterator=it)["Records"]
        ]
    return sorted(out)


def test_non_objects_are_named_as_such(
    aws_client: Callable[[str], Any],
    unique_name: Callable[[str], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = unique_name("cli")
    _stream(aws_client, stream)
    path = tmp_path / "e.jsonl"
    path.write_text('[1,2,3]\n{"data": 5, "type": "t"}\n')
    assert main(["produce", "--stream", stream, "--key", "data.user_id", str(path)]) == 1
    err = capsys.readouterr().err
    assert "line 1: the line is an array, not a JSON object" in err
    assert "line 2: --key data.user_id: 'data' is a number, not a JSON object" in err
    assert "no 'data.user_id' in the event" not in err
    path.write_text("[1,2,3]\n")
    assert main(["produce", "--stream", stream, str(path)]) == 1
    assert "must be a mapping" not in capsys.readouterr().err


def test_raw_lines_keep_their_bytes_and_take_keys_from_a_json_path(
    aws_client: Callable[[str], Any], unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    stream = unique_name("cli")
    kinesis = _stream(aws_client, stream)
    path = tmp_path / "raw.jsonl"
    lines = ['  {"data": {"user": "u1"}}  ', '{"data":{"user":"u2"},"x":"\\t"}\t']
    path.write_bytes(("\n".join(lines) + "\r\n").encode())
    argv = ["produce", "--stream", stream, "--raw", "--no-aggregation", "--key", "data.user"]
    assert main([*argv, str(path)]) == 0
    assert _records(kinesis, stream) == [("u1", lines[0].encode()), ("u2", lines[1].encode())]


def test_raw_with_a_key_refuses_lines_that_are_not_json(
    aws_client: Callable[[str], Any],
    unique_name: Callable[[str], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = unique_name("cli")
    kinesis = _stream(aws_client, stream)
    path = tmp_path / "raw.txt"
    path.write_text("plain text\n")
    assert main(["produce", "--stream", stream, "--raw", "--key", "a.b", str(path)]) == 1
    assert "--key a.b with --raw: the line is not JSON" in capsys.readouterr().err
    assert _records(kinesis, stream) == []


def test_help_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["produce", "--help"])
    assert "``" not in capsys.readouterr().out
