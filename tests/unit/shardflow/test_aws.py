"""shardflow.aws: the error code of a failed call, and which endpoints are local."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from shardflow import aws


def test_error_code_of_a_client_error_is_its_code() -> None:
    exc = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "PutItem")
    assert aws.error_code(exc) == "ThrottlingException"


@pytest.mark.parametrize(
    "exc",
    [
        ClientError({"ResponseMetadata": {"HTTPStatusCode": 500}}, "PutObject"),
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        NoCredentialsError(),
        ValueError("not an AWS error"),
    ],
)
def test_error_code_is_none_without_an_aws_error_code(exc: Exception) -> None:
    assert aws.error_code(exc) is None


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:4566", True),
        ("http://localhost:4566", True),
        ("http://[::1]:4566", True),
        ("https://s3.localhost.localstack.cloud:4566", True),
        ("https://kinesis.eu-west-1.amazonaws.com", False),
        (None, False),
    ],
)
def test_is_local_endpoint(url: str | None, local: bool) -> None:
    assert aws.is_local_endpoint(url) is local
