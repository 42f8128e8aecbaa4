"""Figures over a period, straight from indexed columns: one row per incident (its durations
computed by the database), one grouped count of clocks. Nothing here writes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, cast, exists, false, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from tocsin.incidents.models import Clock, Incident
from tocsin.metrics import figures, times
from tocsin.metrics.periods import Period
from tocsin.metrics.schemas import (
    Bucket,
    ClockTally,
    FollowThrough,
    IncidentRow,
    Metrics,
    SeverityCount,
    Spread,
)
from tocsin.oncall.models import EscalationPolicy, Service

SETTLED = ("met", "breached")
TIMES = times.TIMES


@dataclass(frozen=True)
class Filters:
    """Which incidents count. Each list is "any of"; empty means all."""

    services: Sequence[str] = ()
    severities: Sequence[str] = ()
    types: Sequence[str] = ()
    team: str | None = None
    include_drills: bool = False

    def as_json(self) -> dict[str, list[str] | str | bool | None]:
        return {
            "service": list(self.services),
            "severity": list(self.severities),
            "type": list(self.types),
            "team": self.team,
            "include_drills": self.include_drills,
        }


def compute(
    session: Session,
    *,
    period: Period,
    filters: Filters,
    severity_order: Sequence[str],
    top: int = 0,
) -> Metrics:
    """Every figure for the incidents `filters` picks among those declared in `period`."""
    where = _where(session, period, filters)
    counted = times.tally(session, where, period)
    spreads = {
        name: Spread(**spread.as_json())
        for name, spread in times.spreads(session, where, counted.sums).items()
    }
    clocks = _clock_tallies(session, where)
    review, action = clocks.pop("review", ClockTally()), clocks.pop("action_item", ClockTally())
    return Metrics(
        from_=period.start,
        to=period.end,
        filters=filters.as_json(),
        incidents=counted.incidents,
        **{f"{name}_seconds": spreads[name].mean for name in TIMES},
        times=spreads,
        severity_distribution=[
            SeverityCount(severity=severity, count=count)
            for severity, count in times.order_severities(counted.severities, severity_order)
        ],
        clocks_met_ratio={kind: _met_ratio(tally) for kind, tally in sorted(clocks.items())},
        clocks=dict(sorted(clocks.items())),
        follow_through=FollowThrough(
            review_on_time_rate=_met_ratio(review),
            action_item_closure_rate=figures.ratio(
                action.met, action.met + action.breached + action.pending
            ),
            reviews=review,
            action_items=action,
        ),
        series=_series(period, counted),
        top_incidents=_top(session, where, severity_order, top) if top else [],
    )


def _met_ratio(tally: ClockTally) -> float | None:
    return figures.ratio(tally.met, tally.met + tally.breached)


# -- selecting incidents ---------------------------------------------------------------------


def _where(session: Session, period: Period, filters: Filters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [
        Incident.declared_at >= period.start,
        Incident.declared_at < period.end,
    ]
    if filters.severities:
        where.append(Incident.severity.in_(filters.severities))
    if filters.types:
        where.append(Incident.type.in_(filters.types))
    if not filters.include_drills:
        drill = Incident.flags["drill"].as_boolean()
        where.append(or_(drill.is_(None), drill == false()))
    services = list(filters.services)
    if filters.team:
        team_services = team_service_handles(session, filters.team)
        services = [s for s in services if s in team_services] if services else team_services
        if not services:
            where.append(false())
    if services:
        where.append(_affects_any(session, services))
    return where


def _affects_any(session: Session, services: list[str]) -> ColumnElement[bool]:
    """Incidents whose `services` list names any of these."""
    if times.dialect(session) == "postgresql":
        as_jsonb = cast(Incident.services, JSONB)
        return or_(*(as_jsonb.contains([service]) for service in services))
    listed = func.json_each(Incident.services).table_valued("value")
    return exists(select(1).select_from(listed).where(listed.c.value.in_(services)))


def team_service_handles(session: Session, team: str) -> list[str]:
    """The services whose escalation policy pages `team` (a `team:<handle>` target)."""
    target = f"team:{team}"
    paging = {
        policy.handle
        for policy in session.scalars(select(EscalationPolicy))
        if any(target in step.get("targets", []) for step in policy.steps)
        or any(target in names for names in policy.targets.values())
    }
    rows = session.execute(select(Service.handle, Service.escalation_policy)).all()
    return sorted(handle for handle, policy in rows if policy in paging)


def _series(period: Period, counted: times.Tally) -> list[Bucket]:
    return [
        Bucket(
            start=start,
            end=end,
            incidents=sum(counted.per_bucket.get(key, {}).values()),
            mtta_seconds=counted.bucket_sums.get((key, "mtta"), times.Sums()).mean,
            mttr_seconds=counted.bucket_sums.get((key, "mttr"), times.Sums()).mean,
        )
        for key, start, end in times.bucket_edges(period)
    ]


# -- clocks ----------------------------------------------------------------------------------


def _clock_tallies(session: Session, where: list[ColumnElement[bool]]) -> dict[str, ClockTally]:
    """Clocks of the chosen incidents, by kind: met, breached and pending (cancelled never)."""
    query = (
        select(Clock.kind, Clock.state, func.count())
        .join(Incident, Incident.id == Clock.incident_id)
        .where(*where, Clock.state.in_((*SETTLED, "pending")))
        .group_by(Clock.kind, Clock.state)
    )
    tallies: dict[str, ClockTally] = defaultdict(ClockTally)
    for kind, state, count in session.execute(query):
        setattr(tallies[kind], state, getattr(tallies[kind], state) + count)
    return dict(tallies)


def _top(
    session: Session, where: list[ColumnElement[bool]], order: Sequence[str], limit: int
) -> list[IncidentRow]:
    """The `limit` most severe incidents (then the earliest), each with its clocks."""
    rank = case(
        {severity: index for index, severity in enumerate(order)},
        value=Incident.severity,
        else_=len(order),
    )
    found = session.scalars(
        select(Incident).where(*where).order_by(rank, Incident.declared_at).limit(limit)
    ).all()
    clocks: dict[str, dict[str, ClockTally]] = defaultdict(lambda: defaultdict(ClockTally))
    ids = [incident.id for incident in found]
    query = (
        select(Clock.incident_id, Clock.kind, Clock.state, func.count())
        .where(Clock.incident_id.in_(ids), Clock.state.in_((*SETTLED, "pending")))
        .group_by(Clock.incident_id, Clock.kind, Clock.state)
    )
    for incident_id, kind, state, count in session.execute(query) if ids else []:
        tally = clocks[str(incident_id)][kind]
        setattr(tally, state, count)
    return [_incident_row(incident, dict(clocks[incident.id])) for incident in found]


def _incident_row(incident: Incident, clocks: dict[str, ClockTally]) -> IncidentRow:
    return IncidentRow(
        id=incident.id,
        title=incident.title,
        severity=incident.severity,
        type=incident.type,
        declared_at=incident.declared_at,
        mtta_seconds=_seconds(incident.detected_at, incident.acknowledged_at),
        mttr_seconds=_seconds(incident.detected_at, incident.resolved_at),
        clocks=dict(sorted(clocks.items())),
    )


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round(max((end - start).total_seconds(), 0.0), 3)
