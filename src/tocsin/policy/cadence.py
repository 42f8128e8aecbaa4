"""Calendar cadences: when something held "quarterly" (a drill, a runbook review) is next due.

A cadence counts calendar months from the last time the thing was done, keeping the day of
the month where it can (31 January + 1 month is 28 or 29 February, the month's last day).
Weekly is seven days. A runbook's free-text review schedule ("Quarterly", "Bi-annually",
"every 6 months") is read into the same cadences; text Tocsin cannot read gives None and
sets no clock.

Pure: no database, no clock.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta

from tocsin.policy.schema import Cadence

MONTHS: dict[str, int] = {"monthly": 1, "quarterly": 3, "biannually": 6, "annually": 12}

_WORDS: dict[str, Cadence] = {
    "weekly": "weekly",
    "monthly": "monthly",
    "quarterly": "quarterly",
    "biannually": "biannually",
    "biannual": "biannually",
    "semiannually": "biannually",
    "semiannual": "biannually",
    "halfyearly": "biannually",
    "annually": "annually",
    "annual": "annually",
    "yearly": "annually",
}
_EVERY = re.compile(r"every\s+(\d+)\s+(week|month|year)s?")


def add_months(at: datetime, months: int) -> datetime:
    """`at` moved `months` calendar months on, clamped to the last day of a shorter month."""
    index = at.month - 1 + months
    year, month = at.year + index // 12, index % 12 + 1
    day = min(at.day, calendar.monthrange(year, month)[1])
    return at.replace(year=year, month=month, day=day)


def next_due(after: datetime, cadence: Cadence) -> datetime:
    """When something done at `after` on `cadence` is next due."""
    if cadence == "weekly":
        return after + timedelta(days=7)
    return add_months(after, MONTHS[cadence])


def parse_schedule(text: str | None) -> Cadence | None:
    """A runbook's review schedule in words ("Quarterly", "bi-annual", "every 6 months")."""
    if not text:
        return None
    plain = text.strip().lower()
    squashed = re.sub(r"[\s_-]+", "", plain)
    if squashed in _WORDS:
        return _WORDS[squashed]
    words = re.findall(r"[a-z][a-z_-]*", plain)
    first = re.sub(r"[_-]+", "", words[0]) if words else ""
    if first in _WORDS:
        return _WORDS[first]
    match = _EVERY.search(plain)
    if match:
        count, unit = int(match.group(1)), match.group(2)
        months = {"month": count, "year": 12 * count}.get(unit)
        if unit == "week" and count == 1:
            return "weekly"
        for cadence, span in MONTHS.items():
            if months == span:
                return _WORDS[cadence]
    return None
