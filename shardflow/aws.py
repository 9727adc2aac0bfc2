"""The AWS client factory.

Clients are always injected into shardflow's classes; this module only builds the default
one when the caller gave none. It honours ``AWS_ENDPOINT_URL`` (boto3 reads it itself) and,
when the endpoint is a loopback emulator and no credentials are configured, supplies dummy
ones so that a fresh machine can talk to LocalStack or moto without an AWS account.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from shardflow import settings

# Host names an endpoint URL is compared with, never bound to (B104/S104 do not apply).
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})  # noqa: S104 # nosec B104
_DUMMY_KEY = "test"


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a failed call (``ClientError``), or None (a ``BotoCoreError``:
    no answer, no credentials, a bad parameter; any other exception)."""
    if isinstance(exc, ClientError):
        code: str | None = exc.response.get("Error", {}).get("Code")
        return code
    return None


def is_local_endpoint(url: str | None) -> bool:
    """True when ``url`` names an emulator on this machine (LocalStack, moto)."""
    if not url:
        return False
    host = urlparse(url).hostname or ""
    return host in _LOOPBACK_HOSTS or host.endswith(".localhost.localstack.cloud")


def session(*, region: str | None = None, endpoint_url: str | None = None) -> boto3.session.Session:
    """A boto3 session in the configured region, with dummy credentials for a local emulator."""
    endpoint = endpoint_url or settings.endpoint_url()
    sess = boto3.session.Session(region_name=region or settings.region())
    if is_local_endpoint(endpoint) and sess.get_credentials() is None:
        sess = boto3.session.Session(
            region_name=region or settings.region(),
            aws_access_key_id=_DUMMY_KEY,
            aws_secret_access_key=_DUMMY_KEY,
        )
    return sess


def client(
    service: str,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    config: Config | None = None,
    boto3_session: boto3.session.Session | None = None,
) -> Any:
    """A boto3 client for ``service``.

    ``endpoint_url`` overrides ``AWS_ENDPOINT_URL``; without either, the client talks to AWS.
    The return type is ``Any`` so callers can annotate the specific client type they use
    (``mypy_boto3_kinesis.KinesisClient`` and friends) without importing the stubs at run time.
    """
    sess = boto3_session or session(region=region, endpoint_url=endpoint_url)
    kwargs: dict[str, Any] = {}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    if config is not None:
        kwargs["config"] = config
    return sess.client(service, **kwargs)  # type: ignore[call-overload]
