"""The page as customers see it at one moment: every component with its status and uptime,
the open incidents and maintenance, and the recent history. Built in one read session from
the status page's tables and the internal incidents; everything it holds is public.

A component's status is a person's override if there is one; else the worst of what its open
public incidents say, what an active maintenance says (under_maintenance), and what the
policy's `status_page.impact` says for each open internal incident (not drills) on one of its
services, until that incident is published: from then on its public incident speaks for it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tocsin.incidents.models import Incident
from tocsin.policy.schema import Policy
from tocsin.statuspage import service
from tocsin.statuspage.models import Component, PublicIncident, PublicUpdate
from tocsin.statuspage.statuses import ENDED, description, indicator, worst
from tocsin.statuspage.uptime import DAYS, Span, uptime
from tocsin.statuspage.views import (
    ACTIVE_MAINTENANCE,
    Board,
    ComponentView,
    GroupView,
    IncidentView,
    Link,
    PageInfo,
    UpdateView,
)

HISTORY = 50


def build(session: Session, *, policy: Policy, at: datetime, base_url: str) -> Board:
    """1. Read the components, public incidents and internal incidents of the last 90 days.
    2. Work out each component's status and uptime. 3. Group them and sum up the page."""
    rows = service.components(session)
    public = _public(session, at)
    told = {p.incident_id for p in public if p.incident_id is not None}
    internal = [i for i in _internal(session, at) if i.id not in told]
    zone = policy.status_page.timezone or policy.timezone
    spans = _spans(rows, public, internal, policy, at)
    views = [_component(row, spans, public, internal, policy, at, zone) for row in rows]
    history = _history(session, public)
    groups, ungrouped = _groups(views)
    level = indicator([c.status for c in views], [i.impact for i in history if _counts(i)])
    maintenance = any(i.kind == "maintenance" and i.status in ACTIVE_MAINTENANCE for i in history)
    return Board(
        page=_page(policy, base_url, rows, public, at, zone),
        components=views,
        groups=groups,
        ungrouped=ungrouped,
        history=history,
        indicator=level,
        description=description(level, maintenance),
        at=at,
    )


def _counts(incident: IncidentView) -> bool:
    return incident.kind == "incident" and not incident.ended


def _page(
    policy: Policy,
    base_url: str,
    rows: Sequence[Component],
    public: Sequence[PublicIncident],
    at: datetime,
    zone: str,
) -> PageInfo:
    settings = policy.status_page
    stamps = [r.updated_at for r in rows] + [p.updated_at for p in public]
    return PageInfo(
        id=policy.name,
        name=policy.status_page_name(),
        url=settings.url or f"{base_url}/status",
        time_zone=zone,
        logo_url=settings.logo_url,
        links=[Link(link.title, link.url) for link in settings.links],
        updated_at=max(stamps, default=at),
    )


def _public(session: Session, at: datetime) -> list[PublicIncident]:
    """Open ones, those that ended in the uptime window, and the last HISTORY overall."""
    since = at - timedelta(days=DAYS)
    query = select(PublicIncident).where(
        or_(PublicIncident.status.not_in(ENDED), PublicIncident.resolved_at >= since)
    )
    found = {row.id: row for row in session.scalars(query)}
    for row in service.listed(session, limit=HISTORY):
        found.setdefault(row.id, row)
    return sorted(found.values(), key=lambda r: r.id, reverse=True)


@dataclass(frozen=True)
class _Internal:
    id: str
    severity: str
    services: list[str]
    start: datetime
    end: datetime | None


def _internal(session: Session, at: datetime) -> list[_Internal]:
    since = at - timedelta(days=DAYS)
    query = select(
        Incident.id,
        Incident.severity,
        Incident.services,
        Incident.flags,
        Incident.declared_at,
        Incident.impact_started_at,
        Incident.resolved_at,
        Incident.status,
    ).where(or_(Incident.resolved_at.is_(None), Incident.resolved_at >= since))
    found = []
    for (
        incident_id,
        severity,
        services,
        flags,
        declared,
        started,
        resolved,
        status,
    ) in session.execute(query):
        if (flags or {}).get("drill"):
            continue  # a drill is an exercise, never an outage customers are shown
        end = resolved if resolved is not None or status not in ("resolved", "closed") else at
        found.append(
            _Internal(incident_id, severity, list(services or []), started or declared, end)
        )
    return found


def _spans(
    rows: Sequence[Component],
    public: Sequence[PublicIncident],
    internal: Sequence[_Internal],
    policy: Policy,
    at: datetime,
) -> list[Span]:
    spans = []
    for row in rows:
        for incident in internal:
            impact = policy.status_page.impact.get(incident.severity)
            if impact and set(row.services) & set(incident.services):
                spans.append(Span(row.slug, incident.start, incident.end, impact))
        for item in public:
            status = item.components.get(row.slug)
            start = item.started_at if item.kind == "maintenance" else item.created_at
            if status and start is not None and (item.kind == "incident" or start <= at):
                spans.append(Span(row.slug, start, item.resolved_at, status))
    return spans


def _component(
    row: Component,
    spans: Sequence[Span],
    public: Sequence[PublicIncident],
    internal: Sequence[_Internal],
    policy: Policy,
    at: datetime,
    zone: str,
) -> ComponentView:
    group = row.group_name
    return ComponentView(
        slug=row.slug,
        name=row.name,
        description=row.description,
        group=group,
        group_id=_group_id(group) if group else None,
        status=row.override_status or _status(row, public, internal, policy),
        position=row.position,
        created_at=row.created_at,
        updated_at=row.updated_at,
        uptime=uptime(spans, component=row.slug, at=at, zone=zone, since=row.created_at),
    )


def _status(
    row: Component,
    public: Sequence[PublicIncident],
    internal: Sequence[_Internal],
    policy: Policy,
) -> str:
    said = [
        item.components[row.slug]
        for item in public
        if row.slug in item.components
        and (
            (item.kind == "incident" and item.status not in ENDED)
            or (item.kind == "maintenance" and item.status in ACTIVE_MAINTENANCE)
        )
    ]
    impact = policy.status_page.impact
    said += [
        impact[i.severity]
        for i in internal
        if i.end is None and i.severity in impact and set(row.services) & set(i.services)
    ]
    return worst(said)


def _history(session: Session, public: Sequence[PublicIncident]) -> list[IncidentView]:
    updates = service.updates_of(session, [row.id for row in public])
    return [_incident(row, updates[row.id]) for row in public]


def _incident(row: PublicIncident, updates: Sequence[PublicUpdate]) -> IncidentView:
    return IncidentView(
        code=row.code,
        kind=row.kind,
        name=row.name,
        status=row.status,
        impact=row.impact,
        components=list(row.components),
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        monitoring_at=row.monitoring_at,
        resolved_at=row.resolved_at,
        scheduled_for=row.scheduled_for,
        scheduled_until=row.scheduled_until,
        updates=[
            UpdateView(u.id, u.status, u.body, u.created_at, list(u.affected)) for u in updates
        ],
    )


def _groups(views: Sequence[ComponentView]) -> tuple[list[GroupView], list[ComponentView]]:
    grouped: dict[str, list[ComponentView]] = {}
    for view in views:
        if view.group:
            grouped.setdefault(view.group, []).append(view)
    groups = [
        GroupView(
            id=_group_id(name),
            name=name,
            position=min(c.position for c in members),
            components=members,
            created_at=min(c.created_at for c in members),
            updated_at=max(c.updated_at for c in members),
        )
        for name, members in grouped.items()
    ]
    return groups, [v for v in views if not v.group]


def _group_id(name: str) -> str:
    return "group-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "x")
