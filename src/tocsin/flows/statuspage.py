"""Status page use cases that reach beyond the page: publishing an internal incident (which
is an update to the page's audience, so it meets the update clocks owed to it), and
maintenance (which holds alert silences on its services while it runs). They run in the
caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.alerts import silences
from tocsin.alerts.models import Silence
from tocsin.errors import Conflict, InvalidInput
from tocsin.incidents import service as incident_service
from tocsin.incidents.models import Incident
from tocsin.policy.schema import Policy
from tocsin.statuspage import maintenance, service, subscribers
from tocsin.statuspage.models import PublicIncident, PublicUpdate
from tocsin.statuspage.statuses import ENDED
from tocsin.timesource import now

# The audience a page update answers when the policy names none: clocks owed to nobody in
# particular are answered, those owed to a named audience are not.
PAGE = "status_page"


def links(base_url: str, policy: Policy) -> subscribers.Links:
    return subscribers.Links(base_url, policy.status_page_name())


@dataclass(frozen=True)
class Published:
    row: PublicIncident
    update: PublicUpdate
    notified: int


def publish(
    session: Session,
    *,
    incident_id: str,
    status: str,
    message: str,
    actor: str,
    links: subscribers.Links,
    title: str | None = None,
    components: Mapping[str, str] | None = None,
) -> Published:
    """1. Lock the internal incident (a drill never reaches customers).
    2. Open its public incident, or post an update on the one it has. A new one's components
       are, unless given, those of the incident's services, at the status the policy's
       `status_page.impact` gives its severity (else degraded_performance).
    3. Record the update on the internal timeline, meeting the update clocks owed to the
       page's audience. 4. Tell the subscribers it concerns."""
    incident = incident_service.lock(session, incident_id)
    if incident.flags.get("drill"):
        raise Conflict(f"{incident.id} is a drill: drills are never published", field="id")
    policy = incident_service.policy_of(session, incident).policy
    row = service.of_incident(session, incident.id)
    if row is None or row.status in ENDED:
        if not title:
            raise InvalidInput(
                "title is required to publish: the public title customers read "
                "(the internal one is never shown)",
                field="title",
            )
        effect = components if components is not None else _default(session, incident, policy)
        entry = service.open_incident(
            session,
            name=title,
            status=status,
            message=message,
            components=effect,
            actor=actor,
            incident_id=incident.id,
        )
        row = service.find_by_id(session, entry.status_incident_id)
    else:
        entry = service.post_update(
            session, row=row, status=status, message=message, given=components, actor=actor
        )
    _answer_update_clocks(session, incident, policy, message, actor)
    return Published(row, entry, subscribers.announce(session, row=row, entry=entry, links=links))


def update_public(
    session: Session,
    *,
    code: str,
    status: str,
    message: str,
    actor: str,
    links: subscribers.Links,
    components: Mapping[str, str] | None = None,
) -> Published:
    """1. Post the update. 2. A maintenance that ended stops its clocks and silences.
    3. An incident linked to an internal one answers its update clocks, as `publish` does.
    4. Tell the subscribers it concerns."""
    row = service.lock(session, code)
    entry = service.post_update(
        session, row=row, status=status, message=message, given=components, actor=actor
    )
    if row.kind == "maintenance" and row.status in ENDED:
        maintenance.cancel(session, row)
        _end_silences(session, row.silences)
    if row.incident_id is not None:
        incident = incident_service.lock(session, row.incident_id)
        if incident.status != "closed":
            policy = incident_service.policy_of(session, incident).policy
            _answer_update_clocks(session, incident, policy, message, actor)
    return Published(row, entry, subscribers.announce(session, row=row, entry=entry, links=links))


def schedule_maintenance(
    session: Session,
    *,
    name: str,
    message: str,
    scheduled_for: datetime,
    scheduled_until: datetime,
    components: Sequence[str],
    actor: str,
    links: subscribers.Links,
    auto_complete: bool = True,
) -> Published:
    """1. Record the window and announce it on the page. 2. Start its clocks (the engine
    moves it to in progress on time). 3. Silence alerts from its components' services for
    the window, so they do not page. 4. Tell the subscribers."""
    entry = service.schedule_maintenance(
        session,
        name=name,
        message=message,
        scheduled_for=scheduled_for,
        scheduled_until=scheduled_until,
        components=components,
        actor=actor,
        auto_complete=auto_complete,
    )
    row = service.find_by_id(session, entry.status_incident_id)
    maintenance.plan(session, row)
    row.silences = [
        silences.create(
            session,
            reason=f"Maintenance: {row.name}",
            starts_at=scheduled_for,
            ends_at=scheduled_until,
            service=name_of_service,
            kind="maintenance",
            actor=actor,
        ).id
        for name_of_service in _services_of(session, components)
    ]
    return Published(row, entry, subscribers.announce(session, row=row, entry=entry, links=links))


def _answer_update_clocks(
    session: Session, incident: Incident, policy: Policy, message: str, actor: str
) -> None:
    audience = policy.status_page_audience() or PAGE
    incident_service.publish_update(
        session,
        incident_id=incident.id,
        message=f"Status page: {message}",
        actor=actor,
        audience=[audience],
    )


def _default(session: Session, incident: Incident, policy: Policy) -> dict[str, str]:
    status = policy.status_page.impact.get(incident.severity, "degraded_performance")
    return {
        c.slug: status
        for c in service.components(session)
        if set(c.services) & set(incident.services)
    }


def _services_of(session: Session, components: Sequence[str]) -> list[str]:
    found: dict[str, None] = {}
    for slug in components:
        found.update(dict.fromkeys(service.component(session, slug).services))
    return list(found)


def _end_silences(session: Session, silence_ids: Sequence[int]) -> None:
    at = now()
    for silence_id in silence_ids:
        silence = session.get(Silence, silence_id)
        if silence is not None and not silence.cancelled and silence.ends_at > at:
            silences.cancel(session, silence_id=silence_id)
