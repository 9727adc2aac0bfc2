"""The line every command that talks to AWS prints first: which endpoint, which region.

``consume lambda`` without ``AWS_ENDPOINT_URL`` used to go to AWS itself without a word.
"""

from __future__ import annotations

import sys

from shardflow import settings


def describe(endpoint_url: str | None, region: str | None) -> str:
    """``endpoint URL, region R``, saying so when the endpoint is AWS itself."""
    where = endpoint_url or f"AWS itself ({settings.ENDPOINT_URL} is not set)"
    return f"endpoint {where}, region {region or settings.region()}"


def announce(command: str, endpoint_url: str | None, region: str | None) -> None:
    """Print ``shardflow COMMAND: endpoint ..., region ...`` on stderr."""
    print(f"shardflow {command}: {describe(endpoint_url, region)}", file=sys.stderr)  # noqa: T201


__all__ = ("announce", "describe")
