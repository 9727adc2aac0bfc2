"""``shardflow package lambda``: build the Lambda deployment zip."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from shardflow_tools.packaging import (
    DEFAULT_OUTPUT,
    MAX_DIRECT_UPLOAD_BYTES,
    PackageOptions,
    PackagingError,
    build_lambda_package,
)


def register(sub: Any) -> None:
    """Add the ``package`` command group."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "package",
        help="build deployment artifacts (lambda: the function's zip)",
        description="Build deployment artifacts for the AWS side.",
    )
    kinds = parser.add_subparsers(dest="artifact", required=True, metavar="ARTIFACT")
    lam: argparse.ArgumentParser = kinds.add_parser(
        "lambda",
        help="the Lambda consumer's deployment zip (code and dependencies)",
        description=(
            "Install the Lambda consumer's dependencies for the Lambda runtime with pip "
            "(manylinux wheels, --only-binary) and zip them with shardflow's code, "
            "reproducibly. boto3/botocore are left out: the runtime provides them. Terraform "
            "takes the zip's path (lambda_consumer module, variable package_path)."
        ),
    )
    lam.add_argument(
        "-o",
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"zip to write (default: {DEFAULT_OUTPUT})",
    )
    lam.add_argument(
        "--python-version", default="3.11", help="Lambda runtime's Python (default 3.11)"
    )
    lam.add_argument(
        "--arm64",
        action="store_true",
        help="for the arm64 architecture (manylinux2014_aarch64); default x86_64",
    )
    lam.add_argument(
        "--no-parquet",
        dest="parquet",
        action="store_false",
        help="leave pyarrow out (the function must then write SHARDFLOW_OUTPUT_FORMAT=jsonl)",
    )
    lam.add_argument(
        "--with-tracing", action="store_true", help="add aws-xray-sdk (SHARDFLOW_TRACING=true)"
    )
    lam.add_argument(
        "--with-boto3",
        action="store_true",
        help="pin boto3/botocore in the zip instead of using the runtime's",
    )
    lam.add_argument(
        "--requirement",
        action="append",
        default=[],
        dest="extra_requirements",
        help="a further requirement for your SHARDFLOW_PROCESSOR (repeatable)",
    )
    lam.add_argument(
        "--pip-arg",
        action="append",
        default=[],
        dest="pip_args",
        help="an argument passed to pip, e.g. --pip-arg=--no-index (repeatable)",
    )
    lam.set_defaults(func=run_lambda)


def run_lambda(args: argparse.Namespace) -> int:
    """Build the zip; print its path and size."""
    try:
        options = PackageOptions(
            output=args.output,
            python_version=args.python_version,
            platform="manylinux2014_aarch64" if args.arm64 else "manylinux2014_x86_64",
            parquet=args.parquet,
            tracing=args.with_tracing,
            boto3=args.with_boto3,
            extra_requirements=tuple(args.extra_requirements),
            pip_args=tuple(args.pip_args),
        )
        result = build_lambda_package(options)
    except PackagingError as exc:
        print(f"shardflow package lambda: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    print(  # noqa: T201
        f"{result.path} {result.size} bytes ({result.size / 2**20:.1f} MiB, "
        f"{result.unzipped_size / 2**20:.1f} MiB unzipped, {result.files} files) "
        f"sha256={result.sha256_base64}"
    )
    if result.size > MAX_DIRECT_UPLOAD_BYTES:
        print(  # noqa: T201
            "note: over 50 MiB, Lambda takes this zip from S3 only (s3_bucket/s3_key)",
            file=sys.stderr,
        )
    return 0
