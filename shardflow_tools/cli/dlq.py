"""``shardflow dlq``: list, count, show, redrive and purge dead letters.

The queue is ``--dlq-url``, else ``SHARDFLOW_DLQ_URL``, else the queue named
``shardflow-dlq`` that ``shardflow bootstrap`` creates: the one the consumers use.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from shardflow import resources, settings
from shardflow.errors import ConfigError
from shardflow_tools.cli._help import description


def register(sub: Any) -> None:
    """Add the ``dlq`` command group."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "dlq",
        help="list, show, redrive or purge the consumers' dead letters",
        description=description(__doc__),
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--dlq-url",
        help=f"the queue (default: {settings.DLQ_URL}, else the queue named "
        f"{resources.DEAD_LETTER_QUEUE})",
    )
    common.add_argument("--endpoint-url", help="AWS endpoint (default: AWS_ENDPOINT_URL)")
    common.add_argument("--region", help="AWS region (default: AWS_REGION or us-east-1)")
    commands = parser.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    listing = commands.add_parser(
        "list", parents=[common], help="one line per dead letter: id, reason, origin, error"
    )
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    listing.set_defaults(func=run_list)
    count = commands.add_parser("count", parents=[common], help="how many dead letters there are")
    count.set_defaults(func=run_count)
    show = commands.add_parser(
        "show", parents=[common], help="one dead letter as JSON, its payload decoded"
    )
    show.add_argument("message_id", help="the id `shardflow dlq list` prints")
    show.set_defaults(func=run_show)
    redrive = commands.add_parser(
        "redrive",
        parents=[common],
        help="put dead letters back into their stream (after a fix), then delete them",
    )
    redrive.add_argument("message_ids", nargs="*", metavar="ID", help="the dead letters to send")
    redrive.add_argument("--all", action="store_true", help="every dead letter")
    redrive.add_argument("--reason", help="every dead letter with this reason")
    redrive.set_defaults(func=run_redrive)
    purge = commands.add_parser("purge", parents=[common], help="delete every dead letter")
    purge.add_argument("--yes", action="store_true", help="really delete them")
    purge.set_defaults(func=run_purge)


def _clients(args: argparse.Namespace) -> tuple[Any, str]:
    from consumers.deadletter_queue import queue_url_by_name  # noqa: PLC0415
    from shardflow import aws  # noqa: PLC0415
    from shardflow_tools.cli._target import announce  # noqa: PLC0415

    announce(f"dlq {args.dlq_command}", args.endpoint_url or settings.endpoint_url(), args.region)
    sqs = aws.client("sqs", endpoint_url=args.endpoint_url, region=args.region)
    url = args.dlq_url or settings.env(settings.DLQ_URL) or queue_url_by_name(sqs)
    if url is None:
        raise ConfigError(
            "--dlq-url",
            f"no queue given and none named {resources.DEAD_LETTER_QUEUE} (create it with "
            f"`shardflow bootstrap`, or set {settings.DLQ_URL})",
        )
    return sqs, url


def _client(args: argparse.Namespace, service: str) -> Any:
    from shardflow import aws  # noqa: PLC0415

    return aws.client(service, endpoint_url=args.endpoint_url, region=args.region)


def run_list(args: argparse.Namespace) -> int:
    """Print one line per dead letter."""
    from shardflow_tools.deadletters import peek  # noqa: PLC0415

    if args.limit < 1:
        raise ConfigError("--limit", f"must be >= 1, got {args.limit}")
    sqs, url = _clients(args)
    letters = peek(sqs, url, limit=args.limit)
    for letter in letters:
        error = str(letter.body.get("error", "")).replace("\n", " ")
        print(f"{letter.message_id}  {letter.reason:<17} {letter.origin}  {error}")  # noqa: T201
    print(f"{len(letters)} dead letters in {url}", file=sys.stderr)  # noqa: T201
    return 0


def run_count(args: argparse.Namespace) -> int:
    """Print the queue's depth."""
    from consumers.deadletter_queue import queue_depth  # noqa: PLC0415

    sqs, url = _clients(args)
    print(queue_depth(sqs, url))  # noqa: T201
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Print one dead letter, payload decoded."""
    import orjson  # noqa: PLC0415

    from shardflow_tools.deadletters import decoded, find, release  # noqa: PLC0415

    sqs, url = _clients(args)
    found, missing = find(sqs, url, [args.message_id])
    try:
        if missing:
            print(f"shardflow dlq show: no dead letter {args.message_id} in {url}", file=sys.stderr)  # noqa: T201
            return 1
        body = decoded(found[0], _client(args, "s3"))
    finally:
        release(sqs, url, found)
    sys.stdout.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def run_redrive(args: argparse.Namespace) -> int:
    """Put the chosen dead letters back into their streams."""
    from shardflow_tools.deadletters import find, hold, redrive, release  # noqa: PLC0415

    chosen_by = sum(bool(x) for x in (args.message_ids, args.all, args.reason))
    if chosen_by != 1:
        raise ConfigError("redrive", "name the dead letters: IDs, --all or --reason REASON")
    sqs, url = _clients(args)
    if args.message_ids:
        letters, missing = find(sqs, url, args.message_ids)
    else:
        held = hold(sqs, url, None)
        letters = [x for x in held if args.all or x.reason == args.reason]
        release(sqs, url, [x for x in held if x not in letters])
        missing = set()
    sent = 0
    try:
        for letter, sequence in redrive(
            sqs, _client(args, "kinesis"), url, letters, s3=_client(args, "s3")
        ):
            sent += 1
            print(f"{letter.message_id} -> {letter.stream} @{sequence}")  # noqa: T201
    finally:
        release(sqs, url, letters[sent:])
    for message_id in sorted(missing):
        print(f"shardflow dlq redrive: no dead letter {message_id} in {url}", file=sys.stderr)  # noqa: T201
    print(f"{sent} dead letters redriven", file=sys.stderr)  # noqa: T201
    return 1 if missing else 0


def run_purge(args: argparse.Namespace) -> int:
    """Empty the queue, when ``--yes`` says so."""
    from consumers.deadletter_queue import queue_depth  # noqa: PLC0415
    from shardflow_tools.deadletters import purge  # noqa: PLC0415

    sqs, url = _clients(args)
    depth = queue_depth(sqs, url)
    if not args.yes:
        raise ConfigError("--yes", f"purge deletes the {depth} dead letters in {url}; pass --yes")
    purge(sqs, url)
    print(f"purged {depth} dead letters from {url}", file=sys.stderr)  # noqa: T201
    return 0
