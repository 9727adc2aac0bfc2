"""``shardflow tail --stream NAME``: follow a stream's decoded events as JSON lines."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from shardflow import resources, settings
from shardflow.errors import ConfigError


def register(sub: Any) -> None:
    """Add the ``tail`` sub-command."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "tail",
        help="follow a stream's events (KPL aggregates taken apart) as JSON lines",
        description=(
            "Read every shard of a stream and print one JSON object per event: shard, "
            "sequence and sub-sequence number, partition key, arrival time, and the event "
            "(JSON, else text or base64). Ctrl-C stops it."
        ),
    )
    parser.add_argument(
        "--stream", help=f"stream name (default: {settings.STREAM}, else {resources.STREAM})"
    )
    parser.add_argument(
        "--from",
        dest="start",
        default="latest",
        metavar="trim-horizon|latest|TIMESTAMP",
        help="where to start: the oldest record, new records only (the default), or an RFC "
        "3339 time or Unix seconds",
    )
    parser.add_argument(
        "--no-follow", action="store_true", help="stop once every shard is caught up"
    )
    parser.add_argument("--limit", type=int, help="stop after this many events")
    parser.add_argument("--endpoint-url", help="AWS endpoint (default: AWS_ENDPOINT_URL)")
    parser.add_argument("--region", help="AWS region (default: AWS_REGION, else us-east-1)")
    parser.set_defaults(func=run)


def start_position(value: str) -> str | datetime:
    """``--from`` as an iterator type or a time."""
    named = {"trim-horizon": "TRIM_HORIZON", "latest": "LATEST"}
    key = value.strip().lower().replace("_", "-")
    if key in named:
        return named[key]
    from shardflow_tools.lambda_esm.config import parse_timestamp  # noqa: PLC0415

    try:
        return parse_timestamp(value, field_name="--from")
    except ConfigError:
        raise ConfigError(
            "--from",
            f"expected trim-horizon, latest or a time (RFC 3339, Unix seconds), got {value!r}",
        ) from None


def run(args: argparse.Namespace) -> int:
    """Print the stream's events until Ctrl-C, ``--limit`` or (``--no-follow``) caught up."""
    import orjson  # noqa: PLC0415

    from shardflow import aws  # noqa: PLC0415
    from shardflow_tools.cli._target import announce  # noqa: PLC0415
    from shardflow_tools.tail import StreamTail  # noqa: PLC0415

    start = start_position(args.start)
    if args.limit is not None and args.limit < 1:
        raise ConfigError("--limit", f"must be >= 1, got {args.limit}")
    stream = args.stream or settings.env(settings.STREAM) or resources.STREAM
    announce("tail", args.endpoint_url or settings.endpoint_url(), args.region)
    kinesis = aws.client("kinesis", endpoint_url=args.endpoint_url, region=args.region)
    lines = StreamTail(kinesis, stream, start).lines(follow=not args.no_follow)
    for printed, line in enumerate(lines, start=1):
        sys.stdout.write(orjson.dumps(line).decode() + "\n")
        sys.stdout.flush()
        if args.limit is not None and printed >= args.limit:
            break
    return 0
