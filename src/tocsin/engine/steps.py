"""The engine's steps, in the order each tick runs them."""

from __future__ import annotations

from tocsin.alerts.heartbeats import HeartbeatStep
from tocsin.engine.loop import EngineStep
from tocsin.incidents.clock_engine import ClockStep
from tocsin.notify.outbox import OutboxStep
from tocsin.policy.loader import LoadedPolicy


def default_steps(loaded: LoadedPolicy, public_url: str) -> list[EngineStep]:
    """Clocks first (deadlines and escalation steps, which queue pages), heartbeats (which may
    declare incidents), then the outbox (which sends what the others queued)."""
    return [ClockStep(base_url=public_url), HeartbeatStep(loaded), OutboxStep()]
