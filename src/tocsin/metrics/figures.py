"""The arithmetic of the figures: means, medians and p90s, and ratios (pure).

A figure over no data is None (shown as null or "—"), never 0: an empty quarter did not
acknowledge everything in no time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """Mean, median and 90th percentile of some durations in seconds, and how many."""

    count: int
    mean: float | None
    median: float | None
    p90: float | None

    def as_json(self) -> dict[str, float | int | None]:
        return {"count": self.count, "mean": self.mean, "median": self.median, "p90": self.p90}


def spread(values: Sequence[float]) -> Spread:
    if not values:
        return Spread(0, None, None, None)
    ordered = sorted(values)
    return Spread(
        len(ordered),
        round(math.fsum(ordered) / len(ordered), 3),
        round(quantile(ordered, 0.5), 3),
        round(quantile(ordered, 0.9), 3),
    )


def quantile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile of sorted values, interpolated linearly (as PostgreSQL's
    percentile_cont and numpy's default do)."""
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)
