"""Figures over a period, straight from indexed columns: one row per incident (its durations
computed by the database), one grouped count of clocks. Nothing here writes."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, case, cast, exists, false, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from tocsin.incidents.models import Clock, Incident
from tocsin.metrics import figures, periods
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
TIMES = ("mttd", "mtta", "mttm", "mttr")


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


@dataclass
class _Rows:
    """What the incident query brought back, in declared order."""

    declared: list[float] = field(default_factory=list)
    severities: Counter[str] = field(default_factory=Counter)
    times: dict[str, list[tuple[float, float]]] = field(
        default_factory=lambda: {name: [] for name in TIMES}
    )


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
    rows = _incident_rows(session, where)
    clocks = _clock_tallies(session, where)
    review, action = clocks.pop("review", ClockTally()), clocks.pop("action_item", ClockTally())
    spreads = {name: _spread([value for _, value in rows.times[name]]) for name in TIMES}
    return Metrics(
        from_=period.start,
        to=period.end,
        filters=filters.as_json(),
        incidents=len(rows.declared),
        **{f"{name}_seconds": spreads[name].mean for name in TIMES},
        times=spreads,
        severity_distribution=_distribution(rows.severities, severity_order),
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
        series=_series(period, rows),
        top_incidents=_top(session, where, severity_order, top) if top else [],
    )


def _spread(values: list[float]) -> Spread:
    return Spread(**figures.spread(values).as_json())


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
    if _dialect(session) == "postgresql":
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


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _epoch(session: Session, column: Any) -> ColumnElement[float]:
    """Seconds since 1970 of a timestamp column, computed by the database."""
    if _dialect(session) == "postgresql":
        return cast(func.extract("epoch", column), Float)
    return (func.julianday(column) - 2440587.5) * 86400.0


def _between(session: Session, start: Any, end: Any) -> ColumnElement[float]:
    return _epoch(session, end) - _epoch(session, start)


# -- incident rows ---------------------------------------------------------------------------


def _incident_rows(session: Session, where: list[ColumnElement[bool]]) -> _Rows:
    spans = {
        "mttd": (Incident.impact_started_at, Incident.detected_at),
        "mtta": (Incident.detected_at, Incident.acknowledged_at),
        "mttm": (Incident.detected_at, Incident.mitigated_at),
        "mttr": (Incident.detected_at, Incident.resolved_at),
    }
    query = select(
        _epoch(session, Incident.declared_at),
        Incident.severity,
        *(_between(session, start, end) for start, end in spans.values()),
    ).where(*where)
    rows = _Rows()
    for declared, severity, *values in session.execute(query.order_by(Incident.declared_at)):
        rows.declared.append(declared)
        rows.severities[severity] += 1
        for name, value in zip(TIMES, values, strict=True):
            if value is not None:
                rows.times[name].append((declared, round(max(value, 0.0), 3)))
    return rows


def _distribution(counts: Counter[str], order: Sequence[str]) -> list[SeverityCount]:
    """Every severity the policy lists, in its order, then any others the record holds."""
    ordered = list(order) + sorted(set(counts) - set(order))
    return [SeverityCount(severity=severity, count=counts[severity]) for severity in ordered]


def _series(period: Period, rows: _Rows) -> list[Bucket]:
    edges = periods.buckets(period)
    starts = [start.timestamp() for start, _ in edges]
    counts = Counter(bisect_right(starts, declared) - 1 for declared in rows.declared)
    by_bucket: dict[str, dict[int, list[float]]] = {"mtta": defaultdict(list)}
    by_bucket["mttr"] = defaultdict(list)
    for name in ("mtta", "mttr"):
        for declared, value in rows.times[name]:
            by_bucket[name][bisect_right(starts, declared) - 1].append(value)
    return [
        Bucket(
            start=start,
            end=end,
            incidents=counts[index],
            mtta_seconds=figures.spread(by_bucket["mtta"].get(index, [])).mean,
            mttr_seconds=figures.spread(by_bucket["mttr"].get(index, [])).mean,
        )
        for index, (start, end) in enumerate(edges)
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
        tally = clocks[incident_id][kind]
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
