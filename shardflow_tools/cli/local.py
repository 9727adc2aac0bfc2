"""``shardflow local``: the embedded emulator in the foreground, until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from shardflow import settings
from shardflow_tools.emulator import EmulatorError, endpoint_url, serve


def register(sub: Any) -> None:
    """Add the ``local`` sub-command."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "local",
        help="run the embedded AWS emulator (moto) on 127.0.0.1:4566 until Ctrl-C",
        description=(
            "Serve Kinesis, DynamoDB, S3, SQS and the other AWS APIs moto emulates on one "
            "loopback endpoint, the port LocalStack uses, so "
            "AWS_ENDPOINT_URL=http://127.0.0.1:4566 points shardflow at either."
        ),
    )
    parser.add_argument("--host", default=settings.LOCAL_HOST, help="address to bind")
    parser.add_argument("--port", type=int, default=settings.LOCAL_PORT, help="port to bind")
    parser.add_argument(
        "--http2",
        action="store_true",
        help="serve HTTP/2 (h2c) as well as HTTP/1.1 through hypercorn: the KCL's Kinesis "
        "client needs it (shardflow consume kcl against this emulator)",
    )
    parser.add_argument(
        "--aws-resharding",
        action="store_true",
        help="with --http2: patch moto so SplitShard/MergeShards behave as on AWS (new records "
        "go to the children, a closed shard's iterator ends with ChildShards); a test "
        "harness shim for trying resharding with the KCL, see shardflow_tools.emulator_resharding",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM."""
    url = endpoint_url(args.host, args.port)
    if args.aws_resharding and not args.http2:
        print("shardflow local: --aws-resharding needs --http2", file=sys.stderr)  # noqa: T201
        return 2
    try:
        print(f"shardflow emulator on {url} (Ctrl-C to stop)", file=sys.stderr)  # noqa: T201
        print(f"export AWS_ENDPOINT_URL={url}", file=sys.stderr)  # noqa: T201
        if args.http2:
            from shardflow_tools.emulator_h2 import serve_http2  # noqa: PLC0415 - needs hypercorn

            serve_http2(args.host, args.port, aws_resharding=args.aws_resharding)
        else:
            serve(args.host, args.port)
    except EmulatorError as exc:
        print(f"shardflow local: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    print("shardflow emulator stopped", file=sys.stderr)  # noqa: T201
    return 0
