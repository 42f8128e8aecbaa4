"""Shared time shapes: weekly spans as Tocsin restriction windows, delays as file text.

The sources describe when a rotation is on as spans of the week ("Friday 18:00 for 62
hours") or of the day ("09:00 to 17:00"); Tocsin's restrictions are wall-clock windows on
listed weekdays, each ending by the next midnight. A span is cut at each midnight it crosses,
and pieces with the same times are joined into one window over several days.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from tocsin.oncall.export import seconds_text
from tocsin.oncall.rotation import Restriction

DAY_MIN = 24 * 60
WEEK_MIN = 7 * DAY_MIN
EVERY_DAY = list(range(7))
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

__all__ = ["WEEKDAYS", "daily_window", "delay_text", "week_spans", "zoned"]


def _clock(minute: int) -> time:
    return time(minute // 60, minute % 60)


def week_spans(spans: list[tuple[int, int, int]]) -> list[Restriction]:
    """Spans (weekday 0 = Monday, minute of day, length in minutes) as restriction windows."""
    by_times: dict[tuple[int, int], set[int]] = defaultdict(set)
    for weekday, minute, length in spans:
        cursor = weekday * DAY_MIN + minute
        end = cursor + min(length, WEEK_MIN)
        while cursor < end:
            midnight = (cursor // DAY_MIN + 1) * DAY_MIN
            piece_end = min(end, midnight)
            times = (cursor % DAY_MIN, piece_end % DAY_MIN)
            by_times[times].add(cursor // DAY_MIN % 7)
            cursor = piece_end
    return [
        Restriction(days=sorted(days), start=_clock(start), end=_clock(end))
        for (start, end), days in sorted(by_times.items(), key=lambda item: min(item[1]))
    ]


def daily_window(start_minute: int, length: int) -> list[Restriction]:
    """The same window every day; none at all when it covers the whole day."""
    if length >= DAY_MIN:
        return []
    end = (start_minute + length) % DAY_MIN
    return [Restriction(days=EVERY_DAY, start=_clock(start_minute), end=_clock(end))]


def delay_text(seconds: float) -> str:
    return seconds_text(round(seconds))


def zoned(value: str, zone: str) -> datetime:
    """An ISO 8601 instant from a source, aware (naive ones are in `zone`)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(zone))


def minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)
