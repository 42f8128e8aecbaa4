"""Change events: what an integration says changed (PagerDuty's `/v2/change/enqueue`: a
deploy, a config push, a flag flipped). They page nobody. Each is kept on its integration and
that integration's service, and an incident shows the changes that may explain it: those of
its services, or of the integrations its alerts came from, that happened from the policy's
`routing.changes_lookback` before its impact began until it was resolved.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from tocsin.alerts.models import Alert, ChangeEvent, Integration
from tocsin.alerts.normalized import IncomingChange
from tocsin.incidents import service as incident_service
from tocsin.incidents.models import Incident
from tocsin.incidents.schemas import ChangeOut
from tocsin.timesource import now

SHOWN = 50  # changes an incident lists, newest first


def record(session: Session, *, integration: Integration, change: IncomingChange) -> ChangeEvent:
    at = now()
    row = ChangeEvent(
        integration_id=integration.id,
        service=integration.service,
        summary=change.summary,
        source=change.source,
        happened_at=change.occurred_at or at,
        received_at=at,
        custom_details=change.custom_details,
        links=change.links,
    )
    session.add(row)
    session.flush()
    return row


def shown_on(session: Session, incident: Incident) -> list[ChangeOut]:
    """The changes that may explain the incident, newest first, with the lookback of the
    policy it was declared under."""
    lookback = incident_service.policy_of(session, incident).policy.routing.changes_lookback
    return for_incident(session, incident, lookback.amount)


def for_incident(session: Session, incident: Incident, lookback: timedelta) -> list[ChangeOut]:
    """The changes that may explain the incident, newest first."""
    start = (incident.impact_started_at or incident.detected_at) - lookback
    end = incident.resolved_at or now()
    integrations = select(Alert.integration_id).where(Alert.incident_id == incident.id)
    related: ColumnElement[bool] = ChangeEvent.integration_id.in_(integrations.scalar_subquery())
    if incident.services:
        related = or_(related, ChangeEvent.service.in_(incident.services))
    query = (
        select(ChangeEvent, Integration.name)
        .join(Integration, Integration.id == ChangeEvent.integration_id)
        .where(related, ChangeEvent.happened_at >= start, ChangeEvent.happened_at <= end)
        .order_by(ChangeEvent.happened_at.desc(), ChangeEvent.id.desc())
        .limit(SHOWN)
    )
    return [_out(change, name) for change, name in session.execute(query)]


def listed(
    session: Session,
    *,
    integration_id: int | None = None,
    service: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
) -> list[ChangeOut]:
    """Changes newest first, optionally of one integration or service, since a time."""
    query = select(ChangeEvent, Integration.name).join(
        Integration, Integration.id == ChangeEvent.integration_id
    )
    if integration_id is not None:
        query = query.where(ChangeEvent.integration_id == integration_id)
    if service is not None:
        query = query.where(ChangeEvent.service == service)
    if since is not None:
        query = query.where(ChangeEvent.happened_at >= since)
    query = query.order_by(ChangeEvent.happened_at.desc(), ChangeEvent.id.desc()).limit(limit)
    return [_out(change, name) for change, name in session.execute(query)]


def _out(change: ChangeEvent, integration: str) -> ChangeOut:
    return ChangeOut(
        id=change.id,
        at=change.happened_at,
        summary=change.summary,
        source=change.source,
        service=change.service,
        integration=integration,
        links=change.links,
        custom_details=change.custom_details,
    )
