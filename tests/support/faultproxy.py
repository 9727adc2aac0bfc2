"""An HTTP proxy in front of the emulator that injects the faults AWS clients meet.

The fault suite points producers and consumers at this proxy instead of the emulator, so
faults arrive where they do on AWS, at the HTTP boundary, and every retry path of botocore
and of shardflow runs for real:

* **outage**: the proxy breaks its open connections and stops listening for a while
  (connections refused), then listens again on the same port;
* **throttling**: a share of PutRecords *entries* (the proxy forwards the others and answers
  the chosen ones ``ProvisionedThroughputExceededException`` in place, as Kinesis does, so a
  refused entry is never in the stream), of GetRecords calls, of S3 PUTs (``503 SlowDown``)
  and of DynamoDB writes (``ProvisionedThroughputExceededException``);
* **lost answers**: a request is forwarded (its effect lands) and the connection is then
  closed without an answer, as when a network breaks mid-call;
* **expired shard iterators**: the first GetRecords of each shard after
  :attr:`FaultPlan.expire_iterators` is set is answered ``ExpiredIteratorException``, as
  Kinesis answers a consumer that sat idle past an iterator's five minutes;
* **HTTP/2 passes through**: a connection that opens with the HTTP/2 preface (the KCL's
  Kinesis client speaks h2c) is spliced to the emulator untouched: no fault but the outage
  (which breaks it and refuses new ones) reaches it;
* **hooks**: :meth:`FaultProxy.on` runs a callable before forwarding a request that matches
  a predicate (the suite kills a consumer there, at an exact point of its protocol), and
  may drop the request unforwarded.

Decisions are made by :class:`FaultPlan` from a seeded random generator, so a failing run
repeats. The proxy binds 127.0.0.1 only, and every request loop is bounded by the clients'
own timeouts.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import http.client
import random
import socket
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

_DDB_WRITES = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
_HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


@dataclass
class FaultPlan:
    """What share of each kind of call fails (0.0 = none); changeable while running."""

    put_records_entries: float = 0.0
    get_records: float = 0.0
    s3_puts: float = 0.0
    dynamodb_writes: float = 0.0
    #: S3 PUTs that land and then lose their answer (the connection breaks).
    s3_puts_lost_answer: float = 0.0
    #: The next N DynamoDB writes fail (throttled), whatever the shares say.
    fail_next_dynamodb_writes: int = 0
    #: The next GetRecords of each shard is answered ``ExpiredIteratorException`` (once
    #: per shard; the shards already expired are in :attr:`FaultProxy.expired_shards`).
    expire_iterators: bool = False
    seed: int = 7
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def hit(self, share: float) -> bool:
        """Whether this call (or entry) is one of the failing share."""
        return share > 0 and self._random.random() < share

    def clear(self) -> None:
        """No more faults."""
        self.put_records_entries = self.get_records = 0.0
        self.s3_puts = self.dynamodb_writes = self.s3_puts_lost_answer = 0.0
        self.fail_next_dynamodb_writes = 0
        self.expire_iterators = False


@dataclass(frozen=True)
class Request:
    """What a hook's predicate sees of a request: the method, path, the operation of a
    JSON-protocol call (``X-Amz-Target`` after its dot, empty for S3) and the body."""

    command: str
    path: str
    target: str
    body: bytes

    @property
    def operation(self) -> str:
        """``PutItem``, ``GetRecords``, ...; empty for a REST call (S3)."""
        return self.target.rpartition(".")[2]

    @property
    def is_s3_put(self) -> bool:
        """An S3 object PUT (S3 is the REST service here: no target, a bucket/key path)."""
        return self.command == "PUT" and not self.target and self.path.count("/") >= 2

    def json(self) -> dict[str, Any]:
        """The body of a JSON-protocol call, parsed ({} for another)."""
        if not self.target or not self.body:
            return {}
        parsed = orjson.loads(self.body)
        return parsed if isinstance(parsed, dict) else {}


@dataclass
class Hook:
    """Run ``action`` before forwarding a request ``predicate`` matches (at most ``times``
    times); ``drop``: the request is then not forwarded and its connection is closed."""

    predicate: Callable[[Request], bool]
    action: Callable[[Request], None]
    drop: bool = False
    times: int = 1
    fired: int = 0


class FaultProxy:
    """The proxy: ``url`` to give clients; ``plan`` to change; ``injected`` counts faults."""

    def __init__(self, upstream: str, plan: FaultPlan | None = None) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError(f"the fault proxy only fronts a loopback emulator, not {upstream}")
        self.upstream = (parsed.hostname, parsed.port or 80)
        self.plan = plan or FaultPlan()
        self.injected: Counter[str] = Counter()
        self.expired_shards: set[str] = set()
        self._hooks: list[Hook] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._busy: set[socket.socket] = set()
        self._refusing = False
        self.port = 0

    @property
    def url(self) -> str:
        """The endpoint URL clients use."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        """Listen (on a free port the first time, on the same port after an outage)."""
        proxy = self

        class Handler(_ProxyHandler):
            owner = proxy

        self._refusing = False
        server = _Server(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop listening and close idle connections: every new call is refused until
        :meth:`start`. A call already under way gets its answer (a refused connection, not
        a broken one: :attr:`FaultPlan.s3_puts_lost_answer` is the broken one)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            self._refusing = True
            idle, self._connections = self._connections - self._busy, set()
        for conn in idle:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def outage(self, seconds: float) -> threading.Thread:
        """Refuse connections from now for ``seconds``; returns the thread that ends it."""
        self.stop()
        self.count("outage")
        timer = threading.Timer(seconds, self.start)
        timer.daemon = True
        timer.start()
        return timer

    def on(
        self,
        predicate: Callable[[Request], bool],
        action: Callable[[Request], None],
        *,
        drop: bool = False,
        times: int = 1,
    ) -> Hook:
        """Run ``action`` before forwarding the next ``times`` requests ``predicate`` matches.

        Predicates see every request (in arrival order, under the proxy's lock: keep them
        quick), so one can count what came before, e.g. "a checkpoint write after an S3
        PUT". ``drop=True`` leaves the request unforwarded: a client killed by ``action``
        must not have its last call land after its death.
        """
        hook = Hook(predicate, action, drop=drop, times=times)
        with self._lock:
            self._hooks.append(hook)
        return hook

    def _hook_for(self, request: Request) -> Hook | None:
        chosen = None
        with self._lock:
            for hook in self._hooks:  # every predicate sees every request (they may count)
                if hook.predicate(request) and chosen is None and hook.fired < hook.times:
                    hook.fired += 1
                    chosen = hook
        return chosen

    def _expire(self, iterator: str) -> bool:
        """Whether this GetRecords (of ``iterator``) is answered expired."""
        shard = _shard_of(iterator)
        with self._lock:
            if not self.plan.expire_iterators or shard in self.expired_shards:
                return False
            self.expired_shards.add(shard)
            return True

    def _track(self, conn: socket.socket, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _begin(self, conn: socket.socket) -> bool:
        """A request arrived on ``conn``: False if the proxy is refusing (close it)."""
        with self._lock:
            if self._refusing:
                return False
            self._busy.add(conn)
            return True

    def _end(self, conn: socket.socket) -> None:
        with self._lock:
            self._busy.discard(conn)
            closing = self._refusing
        if closing:  # answered during an outage: no more calls on this connection
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_WR)

    def count(self, what: str) -> None:
        """Count one injected fault of kind ``what``."""
        with self._lock:
            self.injected[what] += 1

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_HTTP2_PREFACE = b"PRI * HTTP/2.0"


def _opens_http2(conn: socket.socket) -> bool:
    """Whether the client's first bytes are the HTTP/2 connection preface (left unread)."""
    try:
        head = b""
        while len(head) < len(_HTTP2_PREFACE):
            head = conn.recv(len(_HTTP2_PREFACE), socket.MSG_PEEK)
            if not head or not _HTTP2_PREFACE.startswith(head[: len(_HTTP2_PREFACE)]):
                return False
            if len(head) < len(_HTTP2_PREFACE):
                time.sleep(0.001)  # the rest of the preface is on its way
        return True
    except OSError:
        return False


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes from ``source`` to ``sink`` until either side closes."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def _shard_of(iterator: str) -> str:
    """The shard an iterator reads: moto's iterators are base64 of
    ``stream:shard:sequence``; another endpoint's stay opaque (the iterator itself)."""
    try:
        parts = base64.b64decode(iterator, validate=False).decode().split(":")
    except (binascii.Error, UnicodeDecodeError):
        return iterator
    return ":".join(parts[:2]) if len(parts) >= 3 else iterator


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that died or dropped its connection is a fault the suite injects
        (a killed consumer): not worth a traceback. Anything else still gets one."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _ProxyHandler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.owner._track(self.connection, open_=True)

    def handle(self) -> None:
        """HTTP/1.1 calls get the faults; an HTTP/2 connection (prior knowledge, as the
        KCL's Kinesis client speaks h2c) is passed through to the emulator as it is."""
        if _opens_http2(self.connection):
            self.owner.count("HTTP/2 connection passed through")
            self._splice()
            return
        super().handle()

    def _splice(self) -> None:
        host, port = self.owner.upstream
        try:
            upstream = socket.create_connection((host, port), timeout=10)
        except OSError:
            return
        upstream.settimeout(None)
        client = self.connection
        client.settimeout(None)
        self.owner._track(upstream, open_=True)  # an outage breaks it too
        back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        back.start()
        _pump(client, upstream)
        back.join(timeout=10)
        self.owner._track(upstream, open_=False)
        upstream.close()

    def finish(self) -> None:
        self.owner._track(self.connection, open_=False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests print what matters."""

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def _handle(self) -> None:
        if not self.owner._begin(self.connection):
            self.close_connection = True  # a request on a kept-alive connection mid-outage
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            self._handle_request()
        finally:
            self.owner._end(self.connection)

    def _handle_request(self) -> None:
        body = self._body()
        plan, owner = self.owner.plan, self.owner
        target = self.headers.get("X-Amz-Target", "")
        operation = target.rpartition(".")[2]
        request = Request(self.command, self.path, target, body)
        hook = owner._hook_for(request)
        if hook is not None:
            owner.count("hook fired")
            hook.action(request)
            if hook.drop:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
        if target.startswith("Kinesis_") and operation == "PutRecords":
            self._put_records(body)
            return
        if (
            target.startswith("Kinesis_")
            and operation == "GetRecords"
            and plan.hit(plan.get_records)
        ):
            owner.count("GetRecords throttled")
            self._json_error(400, "ProvisionedThroughputExceededException", "Rate exceeded")
            return
        if (
            target.startswith("Kinesis_")
            and operation == "GetRecords"
            and plan.expire_iterators
            and owner._expire(str(orjson.loads(body).get("ShardIterator", "")))
        ):
            owner.count("shard iterator expired")
            self._json_error(400, "ExpiredIteratorException", "Iterator expired (injected)")
            return
        if target.startswith("DynamoDB_") and operation in _DDB_WRITES:
            with owner._lock:
                forced = plan.fail_next_dynamodb_writes > 0
                if forced:
                    plan.fail_next_dynamodb_writes -= 1
            if forced or plan.hit(plan.dynamodb_writes):
                owner.count(f"DynamoDB {operation} throttled")
                self._json_error(
                    400,
                    "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                    "The level of configured provisioned throughput for the table was exceeded",
                )
                return
        if self.command == "PUT" and not target and self._is_s3():
            if plan.hit(plan.s3_puts):
                owner.count("S3 PUT 503 SlowDown")
                self._s3_slow_down()
                return
            if plan.hit(plan.s3_puts_lost_answer):
                self._forward(body)  # the object lands ...
                owner.count("S3 PUT answer lost")
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)  # ... the client never hears it
                return
        status, headers, answer = self._forward(body)
        self._reply(status, headers, answer)

    def _is_s3(self) -> bool:
        # S3 is the REST service here: no X-Amz-Target, a bucket/key path.
        return self.path.startswith("/") and self.path.count("/") >= 2

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        host, port = self.owner.upstream
        conn = http.client.HTTPConnection(host, port, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
            headers["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read()
            return response.status, response.getheaders(), answer
        finally:
            conn.close()

    def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in _HOP_HEADERS:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json_error(self, status: int, code: str, message: str) -> None:
        body = orjson.dumps({"__type": code, "message": message})
        self._reply(status, [("Content-Type", "application/x-amz-json-1.1")], body)

    def _s3_slow_down(self) -> None:
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
            b"<Message>Please reduce your request rate.</Message></Error>"
        )
        self._reply(503, [("Content-Type", "application/xml")], body)

    def _put_records(self, body: bytes) -> None:
        """Forward the entries that pass; answer the others throttled, in their places."""
        plan, owner = self.owner.plan, self.owner
        request = orjson.loads(body)
        entries = request.get("Records", [])
        refused = [plan.hit(plan.put_records_entries) for _ in entries]
        if not any(refused):
            status, headers, answer = self._forward(body)
            self._reply(status, headers, answer)
            return
        passed = [e for e, r in zip(entries, refused, strict=True) if not r]
        results: list[dict[str, Any]] = []
        upstream: list[dict[str, Any]] = []
        failed_upstream = 0
        if passed:
            status, headers, answer = self._forward(orjson.dumps({**request, "Records": passed}))
            if status != 200:
                self._reply(status, headers, answer)
                return
            forwarded = orjson.loads(answer)
            upstream = forwarded["Records"]
            failed_upstream = forwarded.get("FailedRecordCount", 0)
        it = iter(upstream)
        for was_refused in refused:
            if was_refused:
                owner.count("PutRecords entry throttled")
                results.append(
                    {
                        "ErrorCode": "ProvisionedThroughputExceededException",
                        "ErrorMessage": "Rate exceeded for shard (injected by the fault proxy)",
                    }
                )
            else:
                results.append(next(it))
        answer = {"FailedRecordCount": sum(refused) + failed_upstream, "Records": results}
        self._reply(200, [("Content-Type", "application/x-amz-json-1.1")], orjson.dumps(answer))
