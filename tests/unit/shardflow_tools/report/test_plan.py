"""``--events``, ``--rate`` and ``--duration``: any two fix the third."""

from __future__ import annotations

import pytest

from shardflow.errors import ConfigError
from shardflow_tools.report.plan import DEFAULT_EVENTS, DEFAULT_RATE, RunPlan, resolve


def test_defaults_and_each_pair_of_flags() -> None:
    assert resolve(None, None, None) == RunPlan(DEFAULT_EVENTS, DEFAULT_RATE)
    assert resolve(3000, None, None) == RunPlan(3000, DEFAULT_RATE)
    assert resolve(None, 500, 180) == RunPlan(90_000, 500)
    assert resolve(1000, None, 4) == RunPlan(1000, 250)
    assert resolve(None, None, 3).events == round(DEFAULT_RATE * 3)
    assert resolve(100, 0, None).seconds is None  # unpaced
    assert resolve(1000, 500, 2).seconds == 2


@pytest.mark.parametrize(
    ("events", "rate", "duration", "field"),
    [
        (0, None, None, "events"),
        (None, -1, None, "rate"),
        (None, None, 0, "duration"),
        (10, 500, 2, "rate"),  # they disagree
        (None, 0, 5, "rate"),  # unpaced for a duration: no count
    ],
)
def test_bad_combinations_name_the_flag(
    events: int | None, rate: float | None, duration: float | None, field: str
) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(events, rate, duration)
    assert info.value.field == field
