"""The engine's steps, in the order each tick runs them, and what each is wired to.

Every step of the engine is listed here (GoAlert's engine/ list is the model). A step is a
module with a name, `run_due(database, deadline)` and `next_due(database)`; see
tocsin.engine.loop.
"""

from __future__ import annotations

from tocsin.alerts import grouping
from tocsin.engine.clocks import ClockStep
from tocsin.engine.heartbeats import HeartbeatStep
from tocsin.engine.loop import EngineStep
from tocsin.engine.outbox import OutboxStep
from tocsin.incidents import clock_registry
from tocsin.incidents.clock_registry import ClockRegistry
from tocsin.oncall import clock_handlers
from tocsin.policy.loader import LoadedPolicy


def clock_kinds(public_url: str) -> ClockRegistry:
    """Every clock kind's handler, registered by the domain that owns it."""
    registry = ClockRegistry()
    clock_registry.register(registry)
    clock_handlers.register(registry, base_url=public_url, alert_lines=grouping.page_lines)
    return registry


def clock_step(public_url: str = "http://127.0.0.1:8080") -> ClockStep:
    return ClockStep(clock_kinds(public_url))


def default_steps(loaded: LoadedPolicy, public_url: str) -> list[EngineStep]:
    """Clocks first (deadlines and escalation steps, which queue pages), heartbeats (which may
    declare incidents), then the outbox (which sends what the others queued)."""
    return [clock_step(public_url), HeartbeatStep(loaded), OutboxStep()]
