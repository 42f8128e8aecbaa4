"""The engine's steps, in the order each tick runs them."""

from __future__ import annotations

from tocsin.engine.loop import EngineStep
from tocsin.incidents.clock_engine import ClockStep


def default_steps() -> list[EngineStep]:
    return [ClockStep()]
