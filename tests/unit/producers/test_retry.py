"""Backoff: exponential ceiling, full jitter, and which errors are retried."""

from __future__ import annotations

import random

from producers.retry import Backoff, is_retryable


def test_ceiling_doubles_and_is_capped() -> None:
    backoff = Backoff(0.1, 2.0)
    assert [backoff.ceiling(n) for n in range(1, 7)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0]
    assert backoff.ceiling(10_000) == 2.0  # no overflow for a record failing forever


def test_full_jitter_spreads_delays_over_the_whole_range() -> None:
    backoff = Backoff(0.1, 10.0)
    rng = random.Random(7)
    delays = [backoff.delay(4, rng) for _ in range(2000)]
    assert all(0.0 <= d <= 0.8 for d in delays)
    assert min(delays) < 0.05 and max(delays) > 0.75  # not a fixed schedule


def test_throttling_and_transient_errors_are_retried_others_are_not() -> None:
    for code in (
        "ProvisionedThroughputExceededException",
        "InternalFailure",
        "KMSThrottlingException",
        "ServiceUnavailable",
        "ConnectionError",
    ):
        assert is_retryable(code), code
    for code in (
        "ResourceNotFoundException",
        "AccessDeniedException",
        "ValidationException",
        "KMSAccessDeniedException",
        "InvalidArgumentException",
    ):
        assert not is_retryable(code), code


def test_per_entry_and_kms_error_codes_are_classified_as_kinesis_documents_them() -> None:
    # PutRecords per-entry codes: throughput and internal failures are worth a retry; of
    # the KMS codes only throttling is (the others need the key or its policy fixed).
    assert is_retryable("ProvisionedThroughputExceededException")
    assert is_retryable("InternalFailure")
    assert is_retryable("KMSThrottlingException")
    for code in (
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSNotFoundException",
        "KMSInvalidStateException",
        "KMSOptInRequired",
    ):
        assert not is_retryable(code), code


def test_whole_call_codes() -> None:
    for code in ("LimitExceededException", "ThrottlingException", "500", "502", "503", "504"):
        assert is_retryable(code), code
    for code in (
        "ExpiredTokenException",
        "NoCredentialsError",
        "400",
        "UnrecognizedClientException",
    ):
        assert not is_retryable(code), code
