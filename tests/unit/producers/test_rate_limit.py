"""Per-shard token buckets: the AWS shard limits are kept without sleeping in tests."""

from __future__ import annotations

import pytest

from producers.rate_limit import ShardRateLimiter, TokenBucket


def test_bucket_allows_one_second_of_burst_then_paces() -> None:
    bucket = TokenBucket(1000, now=0.0)
    for _ in range(10):
        assert bucket.wait_time(100, 0.0) == 0.0
        bucket.take(100, 0.0)
    assert bucket.wait_time(100, 0.0) == pytest.approx(0.1)
    assert bucket.wait_time(100, 0.05) == pytest.approx(0.05)
    assert bucket.wait_time(100, 0.1) == 0.0


def test_bucket_refills_up_to_its_capacity_only() -> None:
    bucket = TokenBucket(10, now=0.0)
    bucket.take(10, 0.0)
    # A long idle period does not bank more than one second of tokens.
    assert bucket.wait_time(10, 100.0) == 0.0
    bucket.take(10, 100.0)
    assert bucket.wait_time(1, 100.0) == pytest.approx(0.1)


def test_entry_larger_than_the_bucket_waits_for_a_full_bucket_then_goes_into_debt() -> None:
    bucket = TokenBucket(100, now=0.0)
    bucket.take(50, 0.0)
    assert bucket.wait_time(250, 0.0) == pytest.approx(0.5)  # needs a full bucket, not 250
    bucket.take(250, 0.5)
    assert bucket.wait_time(1, 0.5) == pytest.approx(1.51)  # 150 tokens of debt + 1


def test_shard_limiter_takes_the_slower_of_records_and_bytes() -> None:
    limiter = ShardRateLimiter(1000, 1024 * 1024, now=0.0)
    limiter.take(1, 1024 * 1024, 0.0)  # one full-size aggregate uses the byte budget
    assert limiter.wait_time(1, 512 * 1024, 0.0) == pytest.approx(0.5)
    records_only = ShardRateLimiter(2, None, now=0.0)
    records_only.take(2, 10**9, 0.0)
    assert records_only.wait_time(1, 10**9, 0.0) == pytest.approx(0.5)
    assert ShardRateLimiter(None, None, now=0.0).wait_time(10**6, 10**12, 0.0) == 0.0


def test_bucket_rejects_a_non_positive_rate() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0, now=0.0)
