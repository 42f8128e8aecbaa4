"""The dashboard: open incidents by severity (the policy's order) with each one's next
deadline, the newest alerts, and who is on call now. Live: it follows every change.

Built from a handful of queries whatever the number of incidents (their pending clocks are
read in one query), so it stays fast with hundreds open (see bench/dashboard.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.alerts.models import Alert, Integration
from tocsin.incidents.lifecycle import OPEN_STATUSES
from tocsin.incidents.models import Clock, Incident
from tocsin.incidents.schemas import ClockOut
from tocsin.oncall import service as oncall_service
from tocsin.oncall.models import Schedule
from tocsin.oncall.rotation import final_shifts, on_call_at
from tocsin.policy.schema import Policy, Severity
from tocsin.timesource import now
from tocsin.web.console.incidents import next_deadline, severity_rank
from tocsin.web.console.pages import _page
from tocsin.web.console.session import SignedIn, _to_login
from tocsin.web.deps import RuntimeDep

OPEN_SHOWN = 500
ALERTS_SHOWN = 15
FORTNIGHT = timedelta(days=14)

router = APIRouter()


@dataclass(frozen=True)
class OpenIncident:
    id: str
    title: str
    status: str
    services: list[str]
    declared_at: datetime
    acknowledged: bool
    next_clock: ClockOut | None


@dataclass(frozen=True)
class SeverityGroup:
    severity: str
    name: str
    rank: int
    incidents: list[OpenIncident]


@dataclass(frozen=True)
class RecentAlert:
    id: int
    summary: str
    status: str
    service: str | None
    integration: str
    last_seen_at: datetime
    incident_id: str | None


@dataclass(frozen=True)
class OnCallNow:
    schedule: str
    name: str
    now: str | None
    next: str | None
    next_at: datetime | None


def _pending_clocks(session: Session, ids: Sequence[str]) -> dict[str, list[ClockOut]]:
    """Each incident's pending clocks, in one query of only the columns a row shows."""
    found: dict[str, list[ClockOut]] = defaultdict(list)
    if not ids:
        return found
    columns = (Clock.incident_id, Clock.kind, Clock.key, Clock.due_at, Clock.action)
    rows = session.execute(
        select(*columns, Clock.label, Clock.warn_at).where(
            Clock.incident_id.in_(ids), Clock.state == "pending"
        )
    )
    for incident_id, kind, key, due_at, action, label, warn_at in rows:
        found[str(incident_id)].append(
            ClockOut.model_construct(
                kind=kind,
                key=key,
                due_at=due_at,
                state="pending",
                action=action,
                label=label,
                targets=[],
                settled_at=None,
                warn_at=warn_at,
            )
        )
    return found


def _name(policy: Policy, severity: str) -> str:
    found: Severity | None = next((s for s in policy.severities if s.id == severity), None)
    return found.name if found else severity


def open_by_severity(session: Session, policy: Policy) -> list[SeverityGroup]:
    columns = (Incident.id, Incident.title, Incident.status, Incident.severity)
    incidents = list(
        session.execute(
            select(*columns, Incident.services, Incident.declared_at, Incident.acknowledged_at)
            .where(Incident.status.in_(OPEN_STATUSES))
            .order_by(Incident.declared_at.desc())
            .limit(OPEN_SHOWN)
        )
    )
    clocks = _pending_clocks(session, [i.id for i in incidents])
    groups: dict[str, list[OpenIncident]] = defaultdict(list)
    for i in incidents:
        groups[i.severity].append(
            OpenIncident(
                id=i.id,
                title=i.title,
                status=i.status,
                services=list(i.services or []),
                declared_at=i.declared_at,
                acknowledged=i.acknowledged_at is not None,
                next_clock=next_deadline(clocks.get(i.id, [])),
            )
        )
    ordered = sorted(groups, key=lambda s: (severity_rank(policy, s), s))
    return [
        SeverityGroup(s, _name(policy, s), severity_rank(policy, s), groups[s]) for s in ordered
    ]


def recent_alerts(session: Session, limit: int = ALERTS_SHOWN) -> list[RecentAlert]:
    rows = session.execute(
        select(Alert, Integration.name)
        .join(Integration, Integration.id == Alert.integration_id)
        .order_by(Alert.id.desc())
        .limit(limit)
    )
    return [
        RecentAlert(a.id, a.summary, a.status, a.service, name, a.last_seen_at, a.incident_id)
        for a, name in rows
    ]


def firing_count(session: Session) -> int:
    query = select(func.count()).select_from(Alert).where(Alert.status == "firing")
    return int(session.scalar(query) or 0)


def on_call_now(session: Session, at: datetime) -> list[OnCallNow]:
    """Each schedule's person now, and who takes over next (within a fortnight)."""
    found = []
    for schedule in session.scalars(select(Schedule).order_by(Schedule.handle)):
        spec = oncall_service.spec_of(session, schedule)
        current = on_call_at(spec, at)
        upcoming = [
            s
            for s in final_shifts(spec, at, at + FORTNIGHT)
            if s.start > at and s.person != current
        ]
        nxt = upcoming[0] if upcoming else None
        found.append(
            OnCallNow(
                schedule=schedule.handle,
                name=schedule.name,
                now=current,
                next=nxt.person if nxt else None,
                next_at=nxt.start if nxt else None,
            )
        )
    return found


@router.get("/dashboard")
def dashboard_page(request: Request, runtime: RuntimeDep, principal: SignedIn) -> Response:
    if principal is None:
        return _to_login(request)
    policy = runtime.policy.policy
    with runtime.database.read_session() as session:
        context: dict[str, Any] = {
            "groups": open_by_severity(session, policy),
            "alerts": recent_alerts(session),
            "firing": firing_count(session),
            "oncall": on_call_now(session, now()),
        }
    return _page(
        request,
        "dashboard.html",
        principal=principal,
        live="dashboard",
        title="Dashboard",
        **context,
    )
