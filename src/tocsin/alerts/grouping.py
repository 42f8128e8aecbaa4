"""Alert groups: new paging alerts that share a group key, within the policy's window, join
one incident. This module keeps the groups and the alerts' incident links; opening or
joining the incident itself is tocsin.flows.intake's job."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, Table, and_, func, or_, select, update
from sqlalchemy.orm import Session

from tocsin.alerts.ingest import NewAlert
from tocsin.alerts.models import Alert, AlertGroup
from tocsin.incidents.lifecycle import OPEN_STATUSES
from tocsin.incidents.models import Incident

ALERTS = cast(Table, Alert.__table__)


def paging_groups(new_alerts: Iterable[NewAlert]) -> dict[str, list[NewAlert]]:
    """New alerts that page (routed to page and not silenced), by group key."""
    groups: dict[str, list[NewAlert]] = defaultdict(list)
    for alert in new_alerts:
        if alert.route.action == "page" and not alert.suppressed:
            groups[alert.group_key].append(alert)
    return groups


def lock(session: Session, key: str) -> None:
    """Serialise declarations per group so two deliveries cannot open two incidents."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))


def join_open(session: Session, key: str, since: datetime, at: datetime) -> str | None:
    """The incident of the group's latest alert since `since`, if it is still open; the
    group's window is extended to `at`."""
    query = (
        select(AlertGroup)
        .join(Incident, Incident.id == AlertGroup.incident_id)
        .where(
            AlertGroup.group_key == key,
            AlertGroup.last_alert_at >= since,
            Incident.status.in_(OPEN_STATUSES),
        )
        .order_by(AlertGroup.id.desc())
        .limit(1)
    )
    group = session.scalar(query)
    if group is None:
        return None
    group.last_alert_at = at
    return group.incident_id


def start(session: Session, key: str, incident_id: str, at: datetime) -> None:
    session.add(AlertGroup(group_key=key, incident_id=incident_id, opened_at=at, last_alert_at=at))


def attach(session: Session, incident_id: str, alert_ids: list[int]) -> None:
    statement = update(ALERTS).where(ALERTS.c.id.in_(alert_ids)).values(incident_id=incident_id)
    session.execute(statement)


def firing_left(session: Session, incident_id: str) -> int:
    query = select(func.count()).where(
        and_(ALERTS.c.incident_id == incident_id, ALERTS.c.status == "firing")
    )
    return int(session.scalar(query) or 0)


def page_lines(session: Session, incident_id: str, limit: int = 5) -> list[str]:
    """The incident's first alerts as a page lists them: "  - Disk full (critical, x3)"."""
    alerts = session.scalars(
        select(Alert).where(Alert.incident_id == incident_id).order_by(Alert.id).limit(limit)
    )
    return [f"  - {a.summary} ({a.source_severity or 'unknown'}, x{a.count})" for a in alerts]


def seen_since(session: Session, incident: Incident, since: datetime) -> list[str]:
    """Alerts on the incident, or on any of its services, seen (fired or fired again) since
    `since`, as "service: summary" lines: what a containment switch's watch counts."""
    about: ColumnElement[bool] = Alert.incident_id == incident.id
    if incident.services:
        about = or_(about, Alert.service.in_(incident.services))
    query = select(Alert).where(about, Alert.last_seen_at >= since).order_by(Alert.id).limit(50)
    return [f"{a.service or '-'}: {a.summary}" for a in session.scalars(query)]
