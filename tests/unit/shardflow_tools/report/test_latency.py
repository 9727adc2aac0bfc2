"""The report's latency histogram: percentiles within a bucket's width, fixed size."""

from __future__ import annotations

import pytest

from shardflow_tools.report.latency import LatencyHistogram


def test_percentiles_are_within_five_per_cent_and_never_above_the_maximum() -> None:
    hist = LatencyHistogram()
    for ms in range(1, 1001):  # 1 ms .. 1 s, evenly
        hist.add(ms / 1000)
    for p, exact in ((50, 0.5), (95, 0.95), (99, 0.99)):
        value = hist.percentile(p)
        assert value is not None
        assert exact <= value <= exact * 1.05 + 1e-9
    assert hist.percentile(100) == pytest.approx(1.0)
    assert hist.total == 1000 and len(hist.counts) == 300


def test_an_empty_histogram_has_no_percentile_and_bad_ones_are_refused() -> None:
    hist = LatencyHistogram()
    assert hist.percentile(50) is None
    with pytest.raises(ValueError, match="outside"):
        hist.percentile(0)


def test_merge_adds_counts_and_a_negative_skew_counts_as_zero() -> None:
    a, b = LatencyHistogram(), LatencyHistogram()
    a.add(-0.5)  # the producer's clock a little ahead of the observer's
    b.add(2.0, count=3)
    a.merge(b)
    assert a.total == 4 and a.maximum == 2.0
    assert a.percentile(25) == pytest.approx(0.0, abs=0.0011)
    assert a.percentile(99) == pytest.approx(2.0, rel=0.05)
