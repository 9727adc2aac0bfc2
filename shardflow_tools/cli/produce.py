"""``shardflow produce --stream NAME [FILE|-]``: JSON lines into a stream, through the producer.

Each line is one event (a JSON object with at least ``type``; the producer fills ``id``,
``time``, ``specversion`` and ``source``), or with ``--raw`` any line sent as it is, byte
for byte (without its line end). The partition key comes from ``--key PATH`` (a dotted path
into the event, e.g. ``data.user_id``; with ``--raw`` the line must then be JSON) or is
random per event. A progress bar (rich, when installed) runs on stderr; the summary goes
to stdout. An event a consumer would dead-letter (``id`` not a string, ``time`` not RFC
3339, ...) is not sent: it counts as an invalid line, reported with the attribute at
fault. Exit status: 0 when every event was delivered, 1 when any line was invalid or any
event failed, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from shardflow import settings
from shardflow.errors import InvalidEnvelopeError
from shardflow_tools.cli._help import description
from shardflow_tools.cli._progress import Progress
from shardflow_tools.cli._target import announce

_EXIT_OK = 0
_EXIT_FAILED = 1
#: At most this many failure messages are printed (the summary counts them all).
_MAX_REPORTED = 10


def register(sub: Any) -> None:
    """Add the ``produce`` sub-command."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "produce",
        help="send JSON-lines events to a Kinesis stream",
        description=description(__doc__),
    )
    parser.add_argument("--stream", required=True, help="stream name or ARN")
    parser.add_argument(
        "file",
        nargs="?",
        default="-",
        help="JSON-lines file to send; '-' or nothing reads standard input",
    )
    parser.add_argument(
        "--key",
        metavar="PATH",
        help="dotted path of the partition key in each event (default: random per event)",
    )
    parser.add_argument(
        "--raw",
        action="store_true",
        help="send each line as it is (bytes kept, line end dropped), without the envelope",
    )
    parser.add_argument("--source", help="the envelope's source for events without one")
    parser.add_argument(
        "--no-aggregation", action="store_true", help="one Kinesis record per event"
    )
    parser.add_argument("--endpoint-url", help="AWS endpoint (default: AWS_ENDPOINT_URL)")
    parser.add_argument("--region", help="AWS region (default: AWS_REGION or us-east-1)")
    parser.set_defaults(func=run)


def _lines(path: str, *, raw: bool) -> Iterator[tuple[int, bytes]]:
    stream: IO[bytes]
    if path == "-":
        stream = sys.stdin.buffer
        yield from _numbered(stream, raw=raw)
    else:
        with Path(path).open("rb") as stream:
            yield from _numbered(stream, raw=raw)


def _numbered(stream: IO[bytes], *, raw: bool) -> Iterator[tuple[int, bytes]]:
    for number, text in enumerate(stream, start=1):
        # A raw line is data: only its line end goes; JSON does not care about blanks.
        line = text.removesuffix(b"\n").removesuffix(b"\r") if raw else text.strip()
        if line:
            yield number, line


def _kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return next((name for t, name in kinds.items() if isinstance(value, t)), "a number")


def _key_of(event: Any, path: list[str] | None) -> str:
    if path is None:
        return uuid.uuid4().hex
    dotted = ".".join(path)
    value = event
    for depth, part in enumerate(path):
        if not isinstance(value, dict):
            where = "the event" if depth == 0 else repr(".".join(path[:depth]))
            raise ValueError(f"--key {dotted}: {where} is {_kind(value)}, not a JSON object")
        if part not in value:
            raise ValueError(f"--key {dotted}: no {dotted!r} in the event")
        value = value[part]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"--key {dotted}: {dotted!r} is {_kind(value)}, not a string or a number")
    return str(value)


def _invalid_line(number: int, exc: Exception) -> str:
    if isinstance(exc, InvalidEnvelopeError):
        # A consumer would dead-letter it: refused by the producer, never delivered.
        return f"line {number}: not sent, invalid envelope {exc.field!r}: {exc}"
    return f"line {number}: {exc}"


def _raw_key(line: bytes, path: list[str] | None) -> str:
    if path is None:
        return uuid.uuid4().hex
    try:
        parsed = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise ValueError(
            f"--key {'.'.join(path)} with --raw: the line is not JSON, so it has no key there"
        ) from None
    return _key_of(parsed, path)


def _event_of(line: bytes) -> dict[str, Any]:
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc}); pass --raw to send lines as they are") from None
    if not isinstance(event, dict):
        raise ValueError(
            f"the line is {_kind(event)}, not a JSON object: an event is an object with at "
            'least "type" (or pass --raw to send lines as they are)'
        )
    return event


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if args.source:
        overrides["source"] = args.source
    if args.no_aggregation:
        overrides["aggregation"] = False
    return overrides


def run(args: argparse.Namespace) -> int:
    """Send the file; print the summary; return the exit status."""
    from producers import (  # noqa: PLC0415 - the core CLI imports producers on use
        BufferFullError,
        EventProducer,
        FailedRecord,
        InMemoryMetrics,
        Metric,
        ProducerConfig,
        ProducerError,
    )
    from producers.client import default_kinesis_client  # noqa: PLC0415

    announce("produce", args.endpoint_url or settings.endpoint_url(), args.region)
    config = ProducerConfig.from_env(**_overrides(args))
    # The producer's own client settings: no botocore retries under the producer's.
    client = default_kinesis_client(
        config.max_in_flight_requests, endpoint_url=args.endpoint_url, region=args.region
    )
    key_path = args.key.split(".") if args.key else None
    metrics = InMemoryMetrics()
    failures: Counter[str] = Counter()
    reported = 0

    def report(message: str) -> None:
        nonlocal reported
        if reported < _MAX_REPORTED:
            print(f"shardflow produce: {message}", file=sys.stderr)  # noqa: T201
        reported += 1

    def on_failure(failed: FailedRecord) -> None:
        failures[type(failed.error).__name__] += 1
        report(f"event with key {failed.partition_key!r} failed: {failed.error}")

    started = time.monotonic()
    read = invalid = 0
    # A missing stream or an unreachable endpoint: one line from shardflow_tools.cli.main.
    producer = EventProducer(
        args.stream, config=config, client=client, metrics=metrics, on_failure=on_failure
    )
    try:
        with producer, Progress(f"producing to {args.stream}") as progress:
            for number, line in _lines(args.file, raw=args.raw):
                read += 1
                try:
                    if args.raw:
                        producer.put(line, partition_key=_raw_key(line, key_path))
                    else:
                        event = _event_of(line)
                        producer.put(event, partition_key=_key_of(event, key_path))
                except BufferFullError as exc:
                    # A valid event the stream did not take in time: a failure, not bad input.
                    failures[type(exc).__name__] += 1
                    report(f"line {number}: {exc}")
                except (orjson.JSONDecodeError, ValueError, ProducerError) as exc:
                    invalid += 1
                    report(_invalid_line(number, exc))
                if read % 1000 == 0:
                    progress.update(metrics.counter(Metric.USER_RECORDS_PUT), read - invalid)
            producer.flush()
            progress.update(metrics.counter(Metric.USER_RECORDS_PUT), read - invalid)
    except OSError as exc:
        print(f"shardflow produce: cannot read {args.file}: {exc}", file=sys.stderr)  # noqa: T201
        return _EXIT_FAILED
    elapsed = time.monotonic() - started
    summary = _summary(
        args.stream,
        read=read,
        invalid=invalid,
        failures=failures,
        metrics=metrics,
        elapsed=elapsed,
    )
    print(summary)  # noqa: T201
    return _EXIT_FAILED if failures or invalid else _EXIT_OK


def _summary(
    stream: str,
    *,
    read: int,
    invalid: int,
    failures: Counter[str],
    metrics: Any,
    elapsed: float,
) -> str:
    from producers import Metric  # noqa: PLC0415

    delivered = metrics.counter(Metric.USER_RECORDS_PUT)
    failed = sum(failures.values())
    kinds = f" ({', '.join(f'{n} {kind}' for kind, n in failures.items())})" if failed else ""
    return "\n".join(
        [
            f"stream          {stream}",
            f"lines read      {read}",
            f"invalid lines   {invalid}",
            f"delivered       {delivered} events in "
            f"{metrics.counter(Metric.KINESIS_RECORDS_PUT)} Kinesis records "
            f"({metrics.counter(Metric.BYTES_PUT):,} bytes)",
            f"failed          {failed}{kinds}",
            f"retried         {metrics.counter(Metric.RETRIES)} Kinesis records",
            f"elapsed         {elapsed:.2f} s ({delivered / max(elapsed, 1e-9):,.0f} events/s)",
        ]
    )
