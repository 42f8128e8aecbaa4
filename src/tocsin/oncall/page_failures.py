"""Pages that could not be delivered, as the incident shows them (API and console)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from tocsin.incidents.models import TimelineEvent
from tocsin.incidents.schemas import PageFailureOut
from tocsin.notify import outbox
from tocsin.notify.channels import mask_address
from tocsin.oncall.models import ContactMethod, Person


def page_failures(session: Session, incident_id: str) -> list[PageFailureOut]:
    """The outbox's failed messages, with who, how and when from the incident's timeline."""
    failed = outbox.failures_for(session, incident_id)
    if not failed:
        return []
    events = session.scalars(
        select(TimelineEvent).where(
            TimelineEvent.incident_id == incident_id, TimelineEvent.kind == "notification_failed"
        )
    )
    recorded = {event.data.get("notification_id"): event for event in events}
    people = _names(session, Person.id, Person.handle, {n.person_id for n in failed})
    methods = _names(
        session, ContactMethod.id, ContactMethod.name, {n.contact_method_id for n in failed}
    )
    found = []
    for notification in failed:
        event = recorded.get(notification.id)
        data = event.data if event is not None else {}
        found.append(
            PageFailureOut(
                notification_id=notification.id,
                purpose=notification.purpose,
                person=people.get(notification.person_id) or data.get("person"),
                method=methods.get(notification.contact_method_id),
                channel=notification.channel,
                address=mask_address(notification.address),
                error=notification.last_error or data.get("error") or "unknown error",
                attempts=notification.attempts,
                at=event.at if event is not None else notification.next_attempt_at,
                fallback=data.get("fallback"),
            )
        )
    return found


def _names(
    session: Session,
    key: InstrumentedAttribute[int],
    name: InstrumentedAttribute[str],
    ids: set[int | None],
) -> dict[int | None, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return {k: v for k, v in session.execute(select(key, name).where(key.in_(wanted)))}
