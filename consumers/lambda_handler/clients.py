"""The handler's AWS clients: built lazily, once per execution environment, injectable.

A Lambda execution environment serves many invocations; its clients (and their connection
pools) are reused across them. Nothing is built at import time, so a cold start pays only
for the clients an invocation actually uses, and tests inject clients bound to the emulator.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from botocore.config import Config

from shardflow import aws

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sqs.client import SQSClient

#: Timeouts short enough to retry within a Lambda invocation, pool sized for the threads
#: of the local runner that may share one handler.
_CONFIG = Config(
    connect_timeout=5,
    read_timeout=30,
    retries={"mode": "standard", "max_attempts": 5},
    max_pool_connections=32,
)


class Clients:
    """boto3 clients for S3, SQS and DynamoDB, each built on first use (thread-safe).

    Clients not given are built for ``endpoint_url`` (else ``AWS_ENDPOINT_URL``).
    """

    _SERVICES = ("s3", "sqs", "dynamodb")

    def __init__(
        self,
        *,
        s3: S3Client | None = None,
        sqs: SQSClient | None = None,
        dynamodb: DynamoDBClient | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self._endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {
            name: client
            for name, client in (("s3", s3), ("sqs", sqs), ("dynamodb", dynamodb))
            if client is not None
        }
        self._lock = threading.Lock()

    def get(self, service: str) -> Any:
        """The client for ``service`` (one of s3, sqs, dynamodb)."""
        client = self._clients.get(service)
        if client is None:
            if service not in self._SERVICES:
                raise ValueError(f"unknown service {service!r}; expected one of {self._SERVICES}")
            with self._lock:
                client = self._clients.get(service)
                if client is None:
                    client = self._clients[service] = aws.client(
                        service, endpoint_url=self._endpoint_url, config=_CONFIG
                    )
        return client

    @property
    def s3(self) -> Any:
        """The S3 client."""
        return self.get("s3")

    @property
    def sqs(self) -> Any:
        """The SQS client."""
        return self.get("sqs")

    @property
    def dynamodb(self) -> Any:
        """The DynamoDB client."""
        return self.get("dynamodb")
