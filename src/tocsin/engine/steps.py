"""The engine's steps, in the order each tick runs them."""

from __future__ import annotations

from tocsin.alerts.heartbeats import HeartbeatStep
from tocsin.engine.loop import EngineStep
from tocsin.incidents.clock_engine import ClockStep
from tocsin.policy.loader import LoadedPolicy


def default_steps(loaded: LoadedPolicy) -> list[EngineStep]:
    """Clocks first (deadlines), then heartbeats (which may declare incidents)."""
    return [ClockStep(), HeartbeatStep(loaded)]
