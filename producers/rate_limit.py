"""Per-shard rate limits: token buckets for records/s and bytes/s.

A provisioned shard takes 1,000 records and 1 MiB per second; more is answered with
``ProvisionedThroughputExceededException``. The producer checks a shard's
:class:`ShardRateLimiter` before putting an entry for it into a request, so it slows down
on its own instead of provoking throttles and retries. Pure code: the caller passes the
time, which keeps it testable without sleeping.
"""

from __future__ import annotations

__all__ = ["ShardRateLimiter", "TokenBucket"]


class TokenBucket:
    """``rate`` tokens per second, holding at most ``rate`` (one second of burst).

    A request larger than the whole bucket is allowed once the bucket is full and leaves
    it in debt, so an oversize entry (a 1 MiB aggregate against a 512 KiB/s limit) is
    delayed, not refused forever.
    """

    __slots__ = ("_capacity", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, now: float) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self._rate = float(rate)
        self._capacity = float(rate)
        self._tokens = float(rate)
        self._stamp = now

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now

    def wait_time(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` tokens can be taken (0.0: now)."""
        self._refill(now)
        needed = min(amount, self._capacity)
        if self._tokens >= needed:
            return 0.0
        return (needed - self._tokens) / self._rate

    def take(self, amount: float, now: float) -> None:
        """Take ``amount`` tokens (after :meth:`wait_time` said 0.0); may leave a debt."""
        self._refill(now)
        self._tokens -= amount


class ShardRateLimiter:
    """The records/s and bytes/s buckets of one shard; either may be off (None)."""

    __slots__ = ("_bytes", "_records")

    def __init__(
        self, records_per_second: int | None, bytes_per_second: int | None, now: float
    ) -> None:
        self._records = TokenBucket(records_per_second, now) if records_per_second else None
        self._bytes = TokenBucket(bytes_per_second, now) if bytes_per_second else None

    def wait_time(self, records: int, nbytes: int, now: float) -> float:
        """Seconds until ``records`` records of ``nbytes`` bytes may be sent (0.0: now)."""
        wait = 0.0
        if self._records is not None:
            wait = self._records.wait_time(records, now)
        if self._bytes is not None:
            wait = max(wait, self._bytes.wait_time(nbytes, now))
        return wait

    def take(self, records: int, nbytes: int, now: float) -> None:
        """Account for an entry about to be sent."""
        if self._records is not None:
            self._records.take(records, now)
        if self._bytes is not None:
            self._bytes.take(nbytes, now)
