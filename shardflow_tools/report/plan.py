"""How many events the demo puts, how fast and for how long: ``--events``, ``--rate`` and
``--duration``, any two of which fix the third."""

from __future__ import annotations

from dataclasses import dataclass

from shardflow.errors import ConfigError

#: Without --duration or --events, this many events.
DEFAULT_EVENTS = 20_000
#: Events per second when --rate is not given.
DEFAULT_RATE = 2_000.0


@dataclass(frozen=True)
class RunPlan:
    """``events`` at ``rate`` per second (0: as fast as the producer goes)."""

    events: int
    rate: float

    @property
    def seconds(self) -> float | None:
        """How long producing is meant to take; None when unpaced."""
        return self.events / self.rate if self.rate > 0 else None


def resolve(events: int | None, rate: float | None, duration: float | None) -> RunPlan:
    """The plan the flags describe. ``--duration`` with ``--rate`` (or its default) gives the
    count; ``--events`` with ``--duration`` gives the rate; all three must agree."""
    if events is not None and events < 1:
        raise ConfigError("events", f"{events} must be >= 1")
    if rate is not None and rate < 0:
        raise ConfigError("rate", f"{rate} must be >= 0 (0: as fast as possible)")
    if duration is not None and duration <= 0:
        raise ConfigError("duration", f"{duration} must be > 0 seconds")
    if duration is None:
        return RunPlan(events or DEFAULT_EVENTS, DEFAULT_RATE if rate is None else rate)
    if events is not None and rate is not None:
        if abs(events - rate * duration) > max(rate, 1.0):
            raise ConfigError("rate", "--events, --rate and --duration disagree: give two of them")
        return RunPlan(events, rate)
    if events is not None:
        return RunPlan(events, events / duration)
    rate = DEFAULT_RATE if rate is None else rate
    if rate == 0:
        raise ConfigError("rate", "--duration needs a rate above 0 (or give --events)")
    return RunPlan(max(1, round(rate * duration)), rate)
