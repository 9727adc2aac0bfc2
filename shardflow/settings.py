"""Every environment variable shardflow reads, named in one place.

Precedence everywhere: an explicit argument, then the environment variable, then the
default. boto3 itself honours ``AWS_ENDPOINT_URL`` (and the per-service
``AWS_ENDPOINT_URL_<SERVICE>``), ``AWS_REGION`` and the credential variables; shardflow
only adds defaults for the local emulator.
"""

from __future__ import annotations

import os
from typing import Final

#: boto3's own variable: one setting points every client at LocalStack or the emulator.
ENDPOINT_URL: Final = "AWS_ENDPOINT_URL"
REGION: Final = "AWS_REGION"
DEFAULT_REGION_VAR: Final = "AWS_DEFAULT_REGION"

#: Region used when neither argument nor environment names one.
DEFAULT_REGION: Final = "us-east-1"
#: Port LocalStack listens on; ``shardflow local`` uses it too, so one URL serves both.
LOCAL_PORT: Final = 4566
LOCAL_HOST: Final = "127.0.0.1"


def env(name: str, default: str | None = None) -> str | None:
    """The value of environment variable ``name``, or ``default`` when unset or empty."""
    value = os.environ.get(name)
    return value if value else default


def endpoint_url() -> str | None:
    """The endpoint every AWS client should use, or None for AWS itself."""
    return env(ENDPOINT_URL)


def region() -> str:
    """The AWS region: ``AWS_REGION``, then ``AWS_DEFAULT_REGION``, then us-east-1."""
    return env(REGION) or env(DEFAULT_REGION_VAR) or DEFAULT_REGION
