"""90-day uptime per component, from the spans in which incidents gave it a status. Pure.

A day's bar shows the worst status of the day. Uptime counts what Atlassian Statuspage
counts: a major outage minute is a minute down, a partial outage minute counts 30 %, and
degraded performance and maintenance count as up. Days are the page's time zone's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from tocsin.statuspage.statuses import worst

DAYS = 90
NO_DATA = "no_data"
WEIGHT = {"major_outage": 1.0, "partial_outage": 0.3}


@dataclass(frozen=True)
class Span:
    """A component had `status` from `start` to `end` (None: still)."""

    component: str
    start: datetime
    end: datetime | None
    status: str


@dataclass(frozen=True)
class Day:
    day: date
    status: str  # the worst of the day
    down_minutes: float


@dataclass(frozen=True)
class Uptime:
    days: list[Day]
    percent: float  # 0..100, over the days shown

    @property
    def incident_days(self) -> int:
        return sum(1 for d in self.days if d.status not in ("operational", NO_DATA))


def uptime(
    spans: Iterable[Span],
    *,
    component: str,
    at: datetime,
    zone: str,
    days: int = DAYS,
    since: datetime | None = None,
) -> Uptime:
    """The last `days` days up to `at` (today included, counted up to `at`). Days before
    `since` (when the component was added) have no data and do not count."""
    tz = ZoneInfo(zone)
    today = at.astimezone(tz).date()
    first = since.astimezone(tz).date() if since is not None else None
    mine = [s for s in spans if s.component == component]
    bars = []
    total = down = 0.0
    for offset in range(days - 1, -1, -1):
        day = today - timedelta(days=offset)
        if first is not None and day < first:
            bars.append(Day(day, NO_DATA, 0.0))
            continue
        start = max(datetime.combine(day, time(), tz), since or at.min.replace(tzinfo=tz))
        end = min(datetime.combine(day, time(), tz) + timedelta(days=1), at)
        bar = _day(mine, day, start, end, at)
        bars.append(bar)
        total += max((end - start).total_seconds() / 60, 0)
        down += bar.down_minutes
    percent = 100.0 if total <= 0 else max(0.0, 100.0 * (1 - down / total))
    return Uptime(bars, percent)


def _day(spans: Sequence[Span], day: date, start: datetime, end: datetime, at: datetime) -> Day:
    cut = [
        (max(s.start, start), min(s.end or at, end), s.status)
        for s in spans
        if s.start < end and (s.end or at) > start
    ]
    cut = [c for c in cut if c[1] > c[0]]
    return Day(day, worst(status for _, _, status in cut), _weighted_minutes(cut))


def _weighted_minutes(cut: Sequence[tuple[datetime, datetime, str]]) -> float:
    """Minutes down, each moment counted once at the heaviest weight covering it."""
    edges = sorted({t for a, b, _ in cut for t in (a, b)})
    minutes = 0.0
    for left, right in pairwise(edges):
        weight = max(
            (WEIGHT.get(status, 0.0) for a, b, status in cut if a <= left and b >= right),
            default=0.0,
        )
        minutes += weight * (right - left).total_seconds() / 60
    return minutes
