"""``shardflow produce``: JSON lines into a stream, summary, exit status."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from shardflow import kpl
from shardflow_tools.bootstrap import BootstrapSpec, StreamSpec, bootstrap
from shardflow_tools.cli import main


def _stream(aws_client: Callable[[str], Any], name: str) -> Any:
    spec = BootstrapSpec(key=None, streams=(StreamSpec(name, shard_count=2),))
    bootstrap(spec, client_factory=aws_client)
    return aws_client("kinesis")


def _events(kinesis: Any, stream: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        it = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for record in kinesis.get_records(ShardIterator=it, Limit=10_000)["Records"]:
            data = record["Data"]
            users = kpl.deaggregate(data) if kpl.is_aggregated(data) else None
            if users is None:
                out.append((record["PartitionKey"], orjson.loads(data)))
            else:
                out.extend((u.partition_key, orjson.loads(u.data)) for u in users)
    return out


def test_sends_every_line_with_the_key_from_the_event(
    aws_client: Callable[[str], Any],
    unique_name: Callable[[str], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = unique_name("cli")
    kinesis = _stream(aws_client, stream)
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b"\n".join(
            orjson.dumps({"type": "signup", "data": {"user": f"u{i % 3}", "n": i}})
            for i in range(50)
        )
        + b"\n\n"
    )
    assert main(["produce", "--stream", stream, "--key", "data.user", str(path)]) == 0
    out = capsys.readouterr().out
    assert "delivered       50 events" in out and "failed          0" in out
    events = _events(kinesis, stream)
    assert sorted(e["data"]["n"] for _, e in events) == list(range(50))
    assert all(key == e["data"]["user"] for key, e in events)
    assert all(e["specversion"] == "1.0" and e["id"] for _, e in events)


def test_invalid_lines_are_reported_and_make_the_exit_status_non_zero(
    aws_client: Callable[[str], Any],
    unique_name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = unique_name("cli")
    kinesis = _stream(aws_client, stream)
    lines = b'{"type": "ok", "data": {}}\nnot json\n{"data": {}}\n{"type": "ok2"}\n'
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(lines)))
    assert main(["produce", "--stream", stream, "-"]) == 1
    captured = capsys.readouterr()
    assert "line 2:" in captured.err and "line 3:" in captured.err and "'type'" in captured.err
    assert "invalid lines   2" in captured.out
    assert sorted(e["type"] for _, e in _events(kinesis, stream)) == ["ok", "ok2"]


def test_raw_lines_are_sent_as_they_are(
    aws_client: Callable[[str], Any],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    stream = unique_name("cli")
    kinesis = _stream(aws_client, stream)
    path = tmp_path / "raw.txt"
    path.write_text("plain text line\nanother\n")
    assert main(["produce", "--stream", stream, "--raw", "--no-aggregation", str(path)]) == 0
    data = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        it = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        data += [r["Data"] for r in kinesis.get_records(ShardIterator=it)["Records"]]
    assert sorted(data) == [b"another", b"plain text line"]


def test_unknown_stream_fails_with_a_clear_message(
    aws_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text('{"type": "t"}\n')
    assert main(["produce", "--stream", "sf-no-such-stream", str(path)]) == 1
    assert "'sf-no-such-stream' does not exist" in capsys.readouterr().err
