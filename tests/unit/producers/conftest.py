"""Fixtures for the producer's unit tests.

``http_kinesis``: a scripted Kinesis HTTP endpoint on 127.0.0.1 for tests of what goes over
the wire.

botocore talks to it as to Kinesis (JSON protocol, ``X-Amz-Target`` header), so a test sees
every HTTP request a real boto3 client makes: retries inside botocore included, which an
in-process fake of the client cannot show. ``answer_put`` decides each PutRecords answer.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

#: (status, content type, body) of an HTTP answer; None closes the connection unanswered.
Answer = tuple[int, str, bytes] | None

SHARD_ID = "shardId-000000000000"
_JSON = "application/x-amz-json-1.1"


def ok_put(records: list[dict[str, Any]]) -> Answer:
    """Every entry written to the one shard."""
    body = {
        "FailedRecordCount": 0,
        "Records": [{"ShardId": SHARD_ID, "SequenceNumber": str(i)} for i in range(len(records))],
    }
    return 200, _JSON, json.dumps(body).encode()


def error(status: int, code: str, message: str = "injected") -> Answer:
    """A whole-call error as Kinesis writes it."""
    return status, _JSON, json.dumps({"__type": code, "message": message}).encode()


@dataclass
class HttpKinesis:
    """Request counts per operation, and the PutRecords script.

    ``ok_put`` and ``error`` build answers for ``answer_put``; returning None closes the
    connection without an answer.
    """

    ok_put = staticmethod(ok_put)
    error = staticmethod(error)

    url: str = ""
    answer_put: Callable[[int, list[dict[str, Any]]], Answer] = lambda _n, recs: ok_put(recs)
    requests: dict[str, int] = field(default_factory=dict)
    #: Data of every PutRecords entry the endpoint answered with success.
    written: list[bytes] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, target: str, body: dict[str, Any]) -> Answer:
        operation = target.rsplit(".", 1)[-1]
        with self._lock:
            n = self.requests.get(operation, 0)
            self.requests[operation] = n + 1
        if operation == "ListShards":
            shard = {
                "ShardId": SHARD_ID,
                "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": str((1 << 128) - 1)},
                "SequenceNumberRange": {"StartingSequenceNumber": "0"},
            }
            return 200, _JSON, json.dumps({"Shards": [shard]}).encode()
        if operation == "PutRecords":
            records = body["Records"]
            answer = self.answer_put(n, records)
            if answer is not None and answer[0] == 200:
                with self._lock:
                    self.written.extend(base64.b64decode(r["Data"]) for r in records)
            return answer
        return error(400, "UnknownOperationException")


@pytest.fixture
def http_kinesis() -> Iterator[HttpKinesis]:
    """A :class:`HttpKinesis` served on a free loopback port for the test's duration."""
    state = HttpKinesis()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            answer = state.handle(self.headers.get("X-Amz-Target", ""), body)
            if answer is None:
                self.close_connection = True
                self.connection.shutdown(2)  # no answer at all: the client sees a reset
                return
            status, content_type, payload = answer
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
