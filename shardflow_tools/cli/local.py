"""``shardflow local``: the embedded emulator in the foreground, until Ctrl-C.

By default it serves HTTP/1.1 (boto3, the CLI, the Lambda consumer) and HTTP/2 with prior
knowledge (h2c: the KCL's Kinesis client) on one port, through hypercorn; ``--http1-only``
serves with moto's own werkzeug server instead. The endpoint is printed once the socket
listens, with the port the system picked for ``--port 0``.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
from pathlib import Path
from typing import Any

from shardflow import settings
from shardflow_tools.emulator import EmulatorError, check_port, endpoint_url, free_port, serve

logger = logging.getLogger(__name__)


def port_number(value: str) -> int:
    """argparse type of ``--port``: a TCP port 0-65535 (0 picks a free port)."""
    try:
        return check_port(int(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    except EmulatorError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: Any) -> None:
    """Add the ``local`` sub-command."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "local",
        help="run the embedded AWS emulator (moto) on 127.0.0.1:4566 until Ctrl-C",
        description=(
            "Serve Kinesis, DynamoDB, S3, SQS and the other AWS APIs moto emulates on one "
            "loopback endpoint, the port LocalStack uses, so "
            "AWS_ENDPOINT_URL=http://127.0.0.1:4566 points shardflow at either. HTTP/1.1 and "
            "HTTP/2 (h2c, which the KCL's Kinesis client needs) are served on the same port."
        ),
    )
    parser.add_argument("--host", default=settings.LOCAL_HOST, help="address to bind")
    parser.add_argument(
        "--port",
        type=port_number,
        default=settings.LOCAL_PORT,
        help=f"port to bind, 0-65535; 0 picks a free one (default {settings.LOCAL_PORT})",
    )
    protocol = parser.add_mutually_exclusive_group()
    protocol.add_argument(
        "--http2",
        action="store_true",
        help="serve HTTP/2 (h2c) as well as HTTP/1.1 through hypercorn: the default; kept "
        "for scripts that pass it",
    )
    protocol.add_argument(
        "--http1-only",
        action="store_true",
        help="serve HTTP/1.1 only, with moto's own server (the KCL cannot use it)",
    )
    parser.add_argument(
        "--detach",
        action="store_true",
        help="start the emulator in the background, return once it listens, and print the "
        'lines to eval: eval "$(shardflow local --detach)" sets AWS_ENDPOINT_URL and '
        "EMULATOR_PID (stop it with kill $EMULATOR_PID)",
    )
    parser.add_argument(
        "--aws-resharding",
        action="store_true",
        help="patch moto so SplitShard/MergeShards behave as on AWS (new records go to the "
        "children, a closed shard's iterator ends with ChildShards); a test harness shim for "
        "trying resharding with the KCL, see shardflow_tools.emulator_resharding",
    )
    parser.set_defaults(func=run)


def _announce(url: str) -> None:
    print(f"shardflow emulator on {url} (HTTP/1.1 and h2c; Ctrl-C to stop)", file=sys.stderr)  # noqa: T201
    print(f"export AWS_ENDPOINT_URL={url}", file=sys.stderr, flush=True)  # noqa: T201


def _announce_http1(url: str) -> None:
    print(f"shardflow emulator on {url} (HTTP/1.1 only; Ctrl-C to stop)", file=sys.stderr)  # noqa: T201
    print(f"export AWS_ENDPOINT_URL={url}", file=sys.stderr, flush=True)  # noqa: T201


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM."""
    if args.aws_resharding and args.http1_only:
        print(  # noqa: T201
            "shardflow local: --aws-resharding needs --http2 (the default server): drop "
            "--http1-only",
            file=sys.stderr,
        )
        return 2
    try:
        if args.detach:
            return _detach(args)
        _serve(args)
    except EmulatorError as exc:
        print(f"shardflow local: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    print("shardflow emulator stopped", file=sys.stderr)  # noqa: T201
    return 0


def _serve(args: argparse.Namespace) -> None:
    http1_only: bool = args.http1_only
    if not http1_only and importlib.util.find_spec("hypercorn") is None:
        if args.http2 or args.aws_resharding:
            raise EmulatorError("serving HTTP/2 needs hypercorn: pip install 'shardflow[local]'")
        logger.warning(
            "hypercorn is not installed: serving HTTP/1.1 only, which the KCL cannot use "
            "(pip install 'shardflow[local]')"
        )
        http1_only = True
    if http1_only:
        serve(args.host, args.port, on_ready=_announce_http1)
        return
    from shardflow_tools.emulator_h2 import serve_http2  # noqa: PLC0415 - needs hypercorn

    serve_http2(args.host, args.port, aws_resharding=args.aws_resharding, on_ready=_announce)


def _detach(args: argparse.Namespace) -> int:
    """Start ``shardflow local`` without ``--detach`` as a session of its own; print the
    endpoint and its pid once it answers."""
    import subprocess  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    from shardflow_tools.emulator import wait_until_ready  # noqa: PLC0415

    port = args.port or free_port(args.host)
    argv = [sys.executable, "-m", "shardflow", "local", "--host", args.host, "--port", str(port)]
    if args.http1_only:
        argv.append("--http1-only")
    if args.aws_resharding:
        argv.append("--aws-resharding")
    log = Path(tempfile.mkdtemp(prefix="shardflow-local-")) / "emulator.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
            start_new_session=True,  # a later Ctrl-C in this terminal must not stop it
        )
    url = endpoint_url(args.host, port)
    try:
        wait_until_ready(url, exited=proc.poll)
    except EmulatorError as exc:
        proc.kill()
        last = log.read_text(errors="replace").strip().splitlines()[-1:]
        raise EmulatorError(f"{exc}{': ' + last[0] if last else ''}") from exc
    print(  # noqa: T201
        f"shardflow emulator on {url} (pid {proc.pid}, log {log}; stop it with kill {proc.pid})",
        file=sys.stderr,
    )
    print(f"export AWS_ENDPOINT_URL={url}")  # noqa: T201
    print(f"export EMULATOR_PID={proc.pid}")  # noqa: T201
    return 0
