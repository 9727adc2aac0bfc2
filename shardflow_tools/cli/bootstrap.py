"""``shardflow bootstrap``: create the stream, tables, bucket and queues of a local run.

The same resources ``terraform/envs/localstack`` declares (see :mod:`shardflow_tools.bootstrap`),
created with boto3 on the endpoint in ``--endpoint-url`` or ``AWS_ENDPOINT_URL``: the
embedded emulator (``shardflow local``) or LocalStack. Running it again changes nothing.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from shardflow import aws, settings
from shardflow_tools.cli._bootstrap_summary import read_back, render
from shardflow_tools.cli._target import announce


def register(sub: Any) -> None:
    """Add the ``bootstrap`` sub-command."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "bootstrap",
        help="create the stream, tables, bucket and queues on the emulator or LocalStack",
        description=(
            "Create, idempotently, what terraform/envs/localstack declares (KMS key, Kinesis "
            "stream, DynamoDB tables, S3 bucket, SQS queues) on an emulator endpoint. "
            "Deploy to AWS with terraform/envs/aws instead."
        ),
    )
    parser.add_argument(
        "--endpoint-url",
        default=settings.endpoint_url(),
        help="endpoint to create the resources on (default: AWS_ENDPOINT_URL)",
    )
    parser.add_argument("--region", default=settings.region(), help="region (default: AWS_REGION)")
    parser.add_argument(
        "--prefix",
        default="",
        help="put PREFIX before every name (several stacks on one endpoint)",
    )
    parser.add_argument(
        "--wait-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for each stream and table to become ACTIVE (default 60)",
    )
    parser.add_argument(
        "--allow-aws",
        action="store_true",
        help="allow an endpoint that is not on this machine (or none: AWS itself)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Bootstrap and print one line per resource; exit 1 with the reason on failure."""
    from shardflow.errors import ConfigError  # noqa: PLC0415
    from shardflow_tools.bootstrap import BootstrapError, bootstrap, default_spec  # noqa: PLC0415

    endpoint = args.endpoint_url
    if not aws.is_local_endpoint(endpoint) and not args.allow_aws:
        where = endpoint or "AWS (AWS_ENDPOINT_URL is not set)"
        print(  # noqa: T201
            f"shardflow bootstrap: refusing to create resources on {where}; point "
            "--endpoint-url or AWS_ENDPOINT_URL at the emulator or LocalStack, use "
            "terraform/envs/aws for AWS, or pass --allow-aws",
            file=sys.stderr,
        )
        return 2
    announce("bootstrap", endpoint, args.region)
    try:
        spec = default_spec().with_prefix(args.prefix) if args.prefix else default_spec()
        report = bootstrap(
            spec, endpoint_url=endpoint, region=args.region, wait_timeout=args.wait_timeout
        )
    except (BootstrapError, ConfigError) as exc:
        print(f"shardflow bootstrap: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    for outcome in report:
        print(outcome)  # noqa: T201
    found = read_back(
        lambda service: aws.client(service, endpoint_url=endpoint, region=args.region),
        args.prefix,
    )
    print(render(found, endpoint_url=endpoint, region=args.region))  # noqa: T201
    return 0
