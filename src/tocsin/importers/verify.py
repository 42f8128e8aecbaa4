"""The parity check: who is on call at each hour, by the source's API and by Tocsin.

Every schedule imported from the source is asked at the top of each hour of the window; an
hour where the source has a different set of people on call (by their source ids, matched to
the people they were imported as) is a difference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.importers.model import Period
from tocsin.oncall.models import Person, Schedule
from tocsin.oncall.rotation import on_call_at
from tocsin.oncall.service import spec_of

# The source's view of one schedule: its own schedule id, and the window -> periods.
SourceOnCall = Callable[[str, datetime, datetime], list[Period]]


@dataclass(frozen=True)
class Difference:
    schedule: str
    at: datetime
    source: tuple[str, ...]
    tocsin: tuple[str, ...]

    def __str__(self) -> str:
        theirs = ", ".join(self.source) or "nobody"
        ours = ", ".join(self.tocsin) or "nobody"
        return f"{self.schedule} at {self.at:%Y-%m-%d %H:%MZ}: source {theirs}, Tocsin {ours}"


@dataclass(frozen=True)
class Parity:
    schedules: list[str]
    hours: int
    differences: list[Difference]


def top_of_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hours_from(start: datetime, days: int) -> list[datetime]:
    return [start + timedelta(hours=h) for h in range(days * 24)]


def imported_schedules(session: Session, vendor: str) -> list[Schedule]:
    query = select(Schedule).where(Schedule.source.like(f"{vendor}:%")).order_by(Schedule.handle)
    return list(session.scalars(query))


def compare(
    session: Session, vendor: str, source: SourceOnCall, start: datetime, days: int = 14
) -> Parity:
    instants = hours_from(top_of_hour(start), days)
    people = {p.source: p.handle for p in session.scalars(select(Person)) if p.source}
    differences: list[Difference] = []
    schedules = imported_schedules(session, vendor)
    for schedule in schedules:
        source_id = (schedule.source or "").split(":", 2)[2]
        periods = source(source_id, instants[0], instants[-1] + timedelta(hours=1))
        differences += _differences(session, schedule, periods, people, instants)
    return Parity([s.handle for s in schedules], len(instants), differences)


def _differences(
    session: Session,
    schedule: Schedule,
    periods: Sequence[Period],
    people: dict[str, str],
    instants: Sequence[datetime],
) -> list[Difference]:
    spec = spec_of(session, schedule)
    found = []
    for at in instants:
        theirs = {
            people.get(p, p)
            for period in periods
            if period.start <= at < period.end
            for p in period.people
        }
        holder = on_call_at(spec, at)
        ours = {holder} if holder else set()
        if theirs != ours:
            found.append(
                Difference(schedule.handle, at, tuple(sorted(theirs)), tuple(sorted(ours)))
            )
    return found
