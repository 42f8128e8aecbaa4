"""MTTD, MTTA, MTTM and MTTR, and the chart buckets, as SQL aggregates: one grouped query
by bucket and severity (a few dozen rows whatever the period holds), plus one for the
medians and p90s (PostgreSQL's percentile_cont; on SQLite, which has none, the durations
are read and sorted here)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, cast, func, select
from sqlalchemy.orm import Session

from tocsin.incidents.models import Incident
from tocsin.metrics import figures, periods
from tocsin.metrics.periods import Period

TIMES = ("mttd", "mtta", "mttm", "mttr")
SPANS = {
    "mttd": (Incident.impact_started_at, Incident.detected_at),
    "mtta": (Incident.detected_at, Incident.acknowledged_at),
    "mttm": (Incident.detected_at, Incident.mitigated_at),
    "mttr": (Incident.detected_at, Incident.resolved_at),
}


@dataclass
class Sums:
    """How many incidents have a figure, and the figures' total, in seconds."""

    count: int = 0
    total: float = 0.0

    def add(self, count: int, total: float | None) -> None:
        self.count += count
        self.total += total or 0.0

    @property
    def mean(self) -> float | None:
        return None if self.count == 0 else round(self.total / self.count, 3)


@dataclass
class Tally:
    """What the grouped query brought back."""

    severities: Counter[str] = field(default_factory=Counter)
    per_bucket: dict[date, Counter[str]] = field(default_factory=dict)
    sums: dict[str, Sums] = field(default_factory=lambda: {name: Sums() for name in TIMES})
    bucket_sums: dict[tuple[date, str], Sums] = field(default_factory=dict)

    @property
    def incidents(self) -> int:
        return sum(self.severities.values())


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def epoch(session: Session, column: Any) -> ColumnElement[float]:
    """Seconds since 1970 of a timestamp column, computed by the database."""
    if dialect(session) == "postgresql":
        return cast(func.extract("epoch", column), Float)
    return (func.julianday(column) - 2440587.5) * 86400.0


def seconds(session: Session, name: str) -> ColumnElement[float]:
    start, end = SPANS[name]
    if dialect(session) == "postgresql":
        return cast(func.extract("epoch", end - start), Float)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _bucket(session: Session, kind: str) -> ColumnElement[Any]:
    """The UTC day, ISO week (its Monday) or month an incident was declared in."""
    at = Incident.declared_at
    if dialect(session) == "postgresql":
        return func.date(func.date_trunc(kind, func.timezone("UTC", at)))
    if kind == "week":
        return func.date(at, "weekday 0", "-6 days")
    return func.date(at, "start of month") if kind == "month" else func.date(at)


def tally(session: Session, where: list[ColumnElement[bool]], period: Period) -> Tally:
    # Each duration is computed once, in a subquery, then counted and summed.
    inner = (
        select(
            _bucket(session, period.bucket).label("bucket"),
            Incident.severity.label("severity"),
            *(seconds(session, name).label(name) for name in TIMES),
        )
        .where(*where)
        .subquery()
    )
    columns: list[Any] = [inner.c.bucket, inner.c.severity, func.count()]
    for name in TIMES:
        columns += [func.count(inner.c[name]), func.sum(inner.c[name])]
    query = select(*columns).group_by(inner.c.bucket, inner.c.severity)
    result = Tally()
    for key, severity, count, *sums in session.execute(query):
        day = key if isinstance(key, date) else date.fromisoformat(str(key))
        result.severities[severity] += count
        result.per_bucket.setdefault(day, Counter())[severity] += count
        for index, name in enumerate(TIMES):
            pair = sums[2 * index : 2 * index + 2]
            result.sums[name].add(pair[0], pair[1])
            result.bucket_sums.setdefault((day, name), Sums()).add(pair[0], pair[1])
    return result


def spreads(
    session: Session, where: list[ColumnElement[bool]], counts: dict[str, Sums]
) -> dict[str, figures.Spread]:
    """Mean, median and p90 of each figure."""
    if not any(sums.count for sums in counts.values()):
        return {name: figures.spread([]) for name in TIMES}
    quantiles = _pg_quantiles if dialect(session) == "postgresql" else _read_quantiles
    found = quantiles(session, where)
    return {
        name: figures.Spread(counts[name].count, counts[name].mean, *found[name]) for name in TIMES
    }


def _pg_quantiles(
    session: Session, where: list[ColumnElement[bool]]
) -> dict[str, tuple[float | None, float | None]]:
    columns = [
        func.percentile_cont(q).within_group(seconds(session, name))
        for name in TIMES
        for q in (0.5, 0.9)
    ]
    row = session.execute(select(*columns).where(*where)).one()
    return {name: (_rounded(row[2 * i]), _rounded(row[2 * i + 1])) for i, name in enumerate(TIMES)}


def _read_quantiles(
    session: Session, where: list[ColumnElement[bool]]
) -> dict[str, tuple[float | None, float | None]]:
    query = select(*(seconds(session, name) for name in TIMES)).where(*where)
    values: dict[str, list[float]] = {name: [] for name in TIMES}
    for row in session.execute(query):
        for name, value in zip(TIMES, row, strict=True):
            if value is not None:
                values[name].append(value)
    found = {name: figures.spread(values[name]) for name in TIMES}
    return {name: (found[name].median, found[name].p90) for name in TIMES}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def bucket_edges(period: Period) -> list[tuple[date, datetime, datetime]]:
    """Each chart bucket's key (the day its unclipped span starts) and its clipped bounds."""
    return [
        (periods.bucket_start(start, period.bucket).date(), start, end)
        for start, end in periods.buckets(period)
    ]


def order_severities(counts: Counter[str], order: Sequence[str]) -> list[tuple[str, int]]:
    """Every severity the policy lists, in its order, then any others the record holds."""
    ordered = list(order) + sorted(set(counts) - set(order))
    return [(severity, counts[severity]) for severity in ordered]
