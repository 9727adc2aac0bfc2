"""``shardflow produce`` over HTTP: the producer's client settings, and what counts as failed."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from producers import EventProducer
from shardflow_tools.cli import main


def test_each_attempt_is_one_request_and_failures_are_summarised(
    http_kinesis: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    for name, value in {
        "RECORD_TTL": "0.3",
        "RETRY_BASE_DELAY": "0.01",
        "RETRY_MAX_DELAY": "0.02",
        "MAX_BUFFER_TIME": "0.005",
    }.items():
        monkeypatch.setenv(f"SHARDFLOW_PRODUCER_{name}", value)
    http_kinesis.answer_put = lambda _n, _recs: http_kinesis.error(503, "ServiceUnavailable")
    path = tmp_path / "e.jsonl"
    path.write_text('{"type": "t", "data": {}}\n')
    argv = ["produce", "--stream", "events", "--endpoint-url", http_kinesis.url]
    assert main([*argv, "--region", "us-east-1", str(path)]) == 1
    captured = capsys.readouterr()
    assert "failed          1 (1 RecordExpiredError)" in captured.out
    attempts = re.search(r"(\d+) attempts, last error ServiceUnavailable", captured.err)
    assert attempts, captured.err
    # No botocore retries inside the producer's: one HTTP request per attempt.
    assert http_kinesis.requests["PutRecords"] == int(attempts.group(1))


def test_a_full_buffer_is_a_failure_not_an_invalid_line(
    http_kinesis: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("SHARDFLOW_PRODUCER_PUT_TIMEOUT", "0")
    monkeypatch.setenv("SHARDFLOW_PRODUCER_MAX_BUFFER_BYTES", str(1024 * 1024))
    # The first line's PutRecords is answered only once the second line has been put (and
    # refused): the first one fills the buffer for as long as the second put takes.
    second_put_done = threading.Event()
    put = EventProducer.put
    calls: list[bytes] = []

    def counting_put(self: EventProducer, data: bytes, **kwargs: Any) -> Any:
        calls.append(data[:1])
        try:
            return put(self, data, **kwargs)
        finally:
            if len(calls) == 2:
                second_put_done.set()

    monkeypatch.setattr(EventProducer, "put", counting_put)

    def held(_n: int, records: list[dict[str, Any]]) -> Any:
        second_put_done.wait(timeout=30)
        return http_kinesis.ok_put(records)

    http_kinesis.answer_put = held
    path = tmp_path / "big.txt"
    path.write_bytes(b"".join(bytes([65 + i]) * 600_000 + b"\n" for i in range(2)))
    argv = ["produce", "--stream", "events", "--endpoint-url", http_kinesis.url, "--raw"]
    assert main([*argv, "--region", "us-east-1", str(path)]) == 1
    out = capsys.readouterr().out
    assert "invalid lines   0" in out
    assert "failed          1 (1 BufferFullError)" in out
    assert calls == [b"A", b"B"]


def test_events_a_consumer_would_dead_letter_are_not_sent_and_each_is_reported(
    http_kinesis: Any, tmp_path: Path, capsys: Any
) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(
        '{"type": "t", "time": "not-a-time"}\n'
        '{"type": "t", "time": 12345}\n'
        '{"type": "t", "id": 5}\n'
        '{"type": "ok", "id": "a-1", "time": "2026-11-26T14:00:00Z", "data": {}}\n'
    )
    argv = ["produce", "--stream", "events", "--endpoint-url", http_kinesis.url]
    assert main([*argv, "--region", "us-east-1", str(path)]) == 1
    captured = capsys.readouterr()
    assert "invalid lines   3" in captured.out
    assert "delivered       1 events" in captured.out
    assert "failed          0" in captured.out
    for number, field in ((1, "time"), (2, "time"), (3, "id")):
        assert f"line {number}: not sent, invalid envelope {field!r}:" in captured.err
    assert "line 4" not in captured.err
    assert [orjson.loads(data)["id"] for data in http_kinesis.written] == ["a-1"]
