"""Idempotent processing: powertools per event against the batch store, side by side.

``python -m bench idempotency`` (or ``python -m bench.idempotency --events N``)

DynamoDB is moto in a child process (``shardflow_tools.emulator.EmulatorProcess``), as in
``bench.lambda_runner``. The same events, in invocations of ``--batch`` events, go through
a processing function that does nothing:

* **per event**: :class:`consumers.lambda_handler.idempotency.Idempotency` (powertools'
  ``idempotent_function``: a conditional put to lock and an update to complete, per event);
* **batch store**: :class:`consumers.idempotency.BatchIdempotencyStore` (``begin`` the
  invocation's ids, process the acquired ones, ``complete`` them);
* **batch store, replay**: the same ids again, all completed (a retried batch);
* **locks only**: one ``TransactWriteItems`` per 100 ids against 100 parallel conditional
  ``PutItem`` (16 threads), the two ways of locking a batch.

moto's ``transact_write_items`` deep-copies the whole table once per item of the
transaction (its rollback copy), so its cost grows with the table's size, which
DynamoDB's does not. The batch store therefore gets a fresh table per ``--per-table``
events (created before the clock starts); the line "one table" shows the moto effect.

Each line prints events/s (wall) and the DynamoDB requests per 1,000 events (HTTP
requests, retries included). With ``--pipeline-events`` the Lambda pipeline without
idempotency (``bench.lambda_runner``'s) runs too, for the target "idempotent processing at
>= 1/10 of the pipeline without it": the pipeline with the batch store is estimated from
the two per-event times added; ``python -m bench lambda`` measures it in the pipeline.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from shardflow import aws
from shardflow_tools.emulator import EmulatorProcess

_T = TypeVar("_T")

#: Requests per 1,000 events the batch store aims at (issue 13).
TARGET_REQUESTS_PER_1000 = 50


class _Counter:
    """Counts the HTTP requests a client sends (``before-send``: each attempt)."""

    def __init__(self, client: Any) -> None:
        self.n = 0
        client.meta.events.register("before-send.dynamodb.*", self._count)

    def _count(self, **_: Any) -> None:
        self.n += 1


def _table(ddb: Any) -> str:
    name = f"bench-idem-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def _events(n: int) -> list[Any]:
    from consumers import Event, Origin  # noqa: PLC0415

    origin = Origin("bench", "shardId-000000000000", "1", None, "pk", datetime.now(UTC))
    return [
        Event(
            {"id": str(uuid.uuid4()), "source": "bench", "type": "t", "specversion": "1.0"}, origin
        )
        for _ in range(n)
    ]


def _process(_event: Any) -> None:
    return None


def _per_event(endpoint: str, events: Sequence[Any]) -> tuple[float, int]:
    from consumers.lambda_handler.clients import Clients  # noqa: PLC0415
    from consumers.lambda_handler.idempotency import Idempotency  # noqa: PLC0415

    ddb = aws.client("dynamodb", endpoint_url=endpoint)
    idem = Idempotency(
        _table(ddb),
        _process,
        clients=Clients(dynamodb=ddb),
        function_name="bench",
        ttl_seconds=3600,
        in_progress_expiry_seconds=900,
    )
    counter = _Counter(ddb)
    t = time.perf_counter()
    for event in events:
        idem.run(event)
    return time.perf_counter() - t, counter.n


def _batch_store(
    endpoint: str, events: Sequence[Any], batch: int, per_table: int
) -> tuple[tuple[float, int], tuple[float, int]]:
    """(seconds, requests) of a first run and of a replay; a table per ``per_table`` events,
    created before the clock starts."""
    from consumers.idempotency import BatchIdempotencyStore  # noqa: PLC0415

    ddb = aws.client("dynamodb", endpoint_url=endpoint)
    stores = [
        BatchIdempotencyStore(_table(ddb), dynamodb_client=ddb, key_prefix="bench")
        for _ in range(0, len(events), per_table)
    ]
    counter = _Counter(ddb)

    def run() -> tuple[float, int]:
        before = counter.n
        t = time.perf_counter()
        for start in range(0, len(events), batch):
            store = stores[start // per_table]
            chunk = events[start : start + batch]
            locks = store.begin([e.id for e in chunk], remaining_time_ms=900_000)
            assert not locks.retry, locks
            done = []
            for event in chunk:
                if locks.should_process(event.id):
                    _process(event)
                    done.append(event.id)
            store.complete(done)
        return time.perf_counter() - t, counter.n - before

    first = run()
    replay = run()
    return first, replay


def _locks_only(
    endpoint: str, events: Sequence[Any], per_table: int
) -> tuple[tuple[float, int], tuple[float, int]]:
    """(seconds, requests) of locking ``events`` 100 at a time: in one transaction, and in
    100 parallel conditional puts; a fresh table per ``per_table`` events for both."""
    from consumers.idempotency import BatchIdempotencyStore, layout  # noqa: PLC0415

    ddb = aws.client("dynamodb", endpoint_url=endpoint)
    ids = [e.id for e in events]
    groups = range(0, len(ids), per_table)
    stores = [
        BatchIdempotencyStore(_table(ddb), dynamodb_client=ddb, key_prefix="tx") for _ in groups
    ]
    put_tables = [_table(ddb) for _ in groups]
    counter = _Counter(ddb)
    t = time.perf_counter()
    for start in range(0, len(ids), 100):
        stores[start // per_table].begin(ids[start : start + 100])
    transact = (time.perf_counter() - t, counter.n)
    counter.n = 0
    record_layout = stores[0].layout

    def put(table: str, event_id: str) -> None:
        now = time.time()
        ddb.put_item(
            TableName=table,
            Item=layout.lock_item(
                layout.idempotency_key("puts", event_id),
                now=now,
                ttl_seconds=3600,
                in_progress_millis=900_000,
                layout=record_layout,
            ),
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
            **layout.lock_condition(now, record_layout),
        )

    t = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        for start in range(0, len(ids), 100):
            table = put_tables[start // per_table]
            list(pool.map(lambda i, table=table: put(table, i), ids[start : start + 100]))
    return transact, (time.perf_counter() - t, counter.n)


def _fresh(measure: Callable[[str], _T]) -> _T:
    """``measure(endpoint)`` against a moto of its own: moto slows down as it fills (the
    same 100-id ``begin`` on a fresh table took about 3x longer after 30 tables of 100
    items), which would favour whatever runs first."""
    with EmulatorProcess() as emulator:
        return measure(emulator.endpoint_url)


def _line(label: str, n: int, seconds: float, requests: int, note: str = "") -> float:
    rate = n / seconds
    print(
        f"  {label:<44} {rate:>9,.0f} events/s wall  "
        f"{requests * 1000 / n:>7,.1f} DynamoDB requests per 1,000 events{note}"
    )
    return rate


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print one line per measurement and the ratios."""
    parser = argparse.ArgumentParser(prog="python -m bench.idempotency")
    parser.add_argument("--events", type=int, default=5_000, help="events through the store")
    parser.add_argument(
        "--per-event-events", type=int, default=1_000, help="events through powertools"
    )
    parser.add_argument("--batch", type=int, default=100, help="events per invocation")
    parser.add_argument(
        "--per-table",
        type=int,
        default=100,
        help="events per idempotency table of the batch store (moto's transactions copy it)",
    )
    parser.add_argument(
        "--one-table-events",
        type=int,
        default=500,
        help="events through the batch store with one table for all (0: skip)",
    )
    parser.add_argument(
        "--pipeline-events",
        type=int,
        default=20_000,
        help="events through the Lambda pipeline without idempotency (0: skip)",
    )
    args = parser.parse_args([] if argv is None else argv)
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

    print(
        f"idempotency: DynamoDB = moto in a child process (a fresh one per line); "
        f"processing does nothing; {args.batch:,} events per invocation"
    )
    events = _events(args.events)
    w, r = _fresh(lambda e: _per_event(e, events[: args.per_event_events]))
    per_event = _line("per event (powertools idempotent_function)", args.per_event_events, w, r)
    (w, r), (rw, rr) = _fresh(lambda e: _batch_store(e, events, args.batch, args.per_table))
    batch = _line(
        f"batch store (a table per {args.per_table:,} events)",
        args.events,
        w,
        r,
        f"  ({batch_ratio(w, args.events, per_event):.1f}x per event; "
        f"target <= {TARGET_REQUESTS_PER_1000})",
    )
    _line("batch store, replay (all ids completed)", args.events, rw, rr)
    if args.one_table_events:
        grown = events[: args.one_table_events]
        (gw, gr), _ = _fresh(lambda e: _batch_store(e, grown, args.batch, len(grown)))
        _line(
            f"batch store (one table of {len(grown):,} events)",
            len(grown),
            gw,
            gr,
            "  (moto: each transaction copies the table)",
        )
    (tw, tr), (pw, pr) = _fresh(lambda e: _locks_only(e, events, args.per_table))
    _line("locks only: TransactWriteItems per 100", args.events, tw, tr)
    _line("locks only: 100 parallel PutItem (16 thr.)", args.events, pw, pr)
    if args.pipeline_events:
        _fresh(lambda e: _pipeline_lines(e, args.pipeline_events, batch, per_event))
    return 0


def batch_ratio(seconds: float, n: int, per_event_rate: float) -> float:
    """How many times the per-event rate the batch store's rate is."""
    return (n / seconds) / per_event_rate


def _pipeline_lines(endpoint: str, n: int, batch_rate: float, per_event_rate: float) -> None:
    from bench.lambda_runner import _pipeline  # noqa: PLC0415

    count, wall, _cpu, _requests = _pipeline(endpoint, n)
    pipeline = count / wall
    print(
        f"  {'pipeline without idempotency':<44} {pipeline:>9,.0f} events/s wall  "
        f"({count:,} events, bench.lambda_runner's)"
    )
    with_batch = 1 / (1 / pipeline + 1 / batch_rate)
    with_event = 1 / (1 / pipeline + 1 / per_event_rate)
    print(
        f"  estimated pipeline + batch store: {with_batch:,.0f} events/s = 1/"
        f"{pipeline / with_batch:.1f} of the pipeline (target >= 1/10); "
        f"+ per-event powertools: {with_event:,.0f} events/s = 1/{pipeline / with_event:.0f}"
    )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
