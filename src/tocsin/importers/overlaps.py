"""Layers that have someone on call at the same time (where the source pages both)."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import combinations

from tocsin.oncall.config import ScheduleIn
from tocsin.oncall.rotation import ScheduleSpec, Shift, layer_shifts


def overlapping_layers(
    schedule: ScheduleIn, start: datetime, span: timedelta
) -> list[tuple[str, str]]:
    """Pairs of layer names (lower, higher) whose shifts meet within [start, start + span)."""
    spec = ScheduleSpec(name=schedule.handle, timezone=schedule.timezone, layers=schedule.layers)
    shifts = {layer.name: layer_shifts(spec, layer, start, start + span) for layer in spec.layers}
    return [
        (lower, higher)
        for lower, higher in combinations(shifts, 2)
        if _meet(shifts[lower], shifts[higher])
    ]


def _meet(these: list[Shift], those: list[Shift]) -> bool:
    return any(a.start < b.end and b.start < a.end for a in these for b in those)
