"""Review use cases: the review a resolved incident owes, written from the record, and the
reminders its owner and its action items' owners get.

The draft needs the incident's timeline, its alerts and the messages sent about it (three
domains), so it is gathered here and written by the pure tocsin.reviews.draft.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.alerts.models import Alert
from tocsin.comms import audiences, notices, records
from tocsin.comms.messages import Outgoing, Sending
from tocsin.comms.recipients import Reach
from tocsin.comms.templates import context, render
from tocsin.incidents import service as incident_service
from tocsin.incidents import timeline
from tocsin.incidents.chain import format_instant
from tocsin.incidents.models import Clock, Incident
from tocsin.incidents.schemas import EventOut
from tocsin.policy.schema import Policy
from tocsin.reviews import draft, export
from tocsin.reviews import service as review_service
from tocsin.reviews.models import Review
from tocsin.timesource import now

ACTOR = "tocsin"


def record_of(session: Session, incident: Incident) -> draft.Record:
    """Everything the draft writes from: the incident's facts, events, alerts and messages."""
    return draft.Record(
        id=incident.id,
        title=incident.title,
        summary=incident.summary,
        severity=incident.severity,
        type=incident.type,
        status=incident.status,
        services=list(incident.services),
        flags=dict(incident.flags),
        roles=dict(incident.roles),
        facts={
            "impact_started": incident.impact_started_at,
            "detected": incident.detected_at,
            "declared": incident.declared_at,
            "acknowledged": incident.acknowledged_at,
            "mitigated": incident.mitigated_at,
            "resolved": incident.resolved_at,
        },
        acknowledged_by=incident.acknowledged_by,
        events=[EventOut.of(e) for e in timeline.events(session, incident.id)],
        alerts=_alerts(session, incident.id),
        messages=_messages(session, incident.id),
    )


def _alerts(session: Session, incident_id: str) -> list[draft.AlertLine]:
    query = select(Alert).where(Alert.incident_id == incident_id).order_by(Alert.first_seen_at)
    return [
        draft.AlertLine(a.summary, a.service, a.status, a.count, a.first_seen_at)
        for a in session.scalars(query)
    ]


def _messages(session: Session, incident_id: str) -> list[draft.MessageLine]:
    return [
        draft.MessageLine(m.kind, m.subject, m.audience, m.channel, m.status, m.queued_at)
        for m in records.communications(session, incident_id, pages=False)
    ]


def write_draft(session: Session, incident: Incident) -> str:
    policy = incident_service.policy_of(session, incident).policy
    return draft.write(record_of(session, incident), policy)


def on_resolved(session: Session, *, incident: Incident, at: datetime) -> Review | None:
    """1. Does the incident owe a review (its severity's rule, or it is a drill)?
    2. Write the draft from the record. 3. Open the review with its owner, due date and
    clock (or, resolved again after a reopen, count the due date from now)."""
    policy = incident_service.policy_of(session, incident).policy
    if review_service.owed(policy, incident) is None:
        return None
    body = ""
    if review_service.for_incident(session, incident.id) is None:
        body = draft.write(record_of(session, incident), policy)
    return review_service.open_review(
        session, incident=incident, policy=policy, body=body, at=at, actor=ACTOR
    )


def exported(session: Session, review: Review) -> str:
    """The review as Markdown with its action item list (the source of every export)."""
    items = [
        export.ItemLine(i.id, i.title, i.owner, i.item_class, i.due_at, i.status, i.tracker_url)
        for i in review_service.items_of(session, review.id)
    ]
    return export.markdown(review.body, items, status=review.status, owner=review.owner)


class ReviewReminders:
    """tocsin.reviews.clock_handlers.ReviewNotices, by message: to the owner; an overdue
    notice also to the commander. Nobody reachable: the policy's reminder roles, else the
    on-call, else the fallback, as for every other clock."""

    def __init__(self, sending: Sending) -> None:
        self.sending = sending

    def tell(
        self, session: Session, incident: Incident, clock: Clock, kind: str, owner: str | None
    ) -> None:
        policy = incident_service.policy_of(session, incident).policy
        at = now()
        reach = self._reach(session, policy, incident, clock, kind, owner, at)
        values = context(
            incident,
            policy,
            base_url=self.sending.base_url,
            extra={"clock": notices.clock_values(clock, at)},
        )
        outgoing = Outgoing(
            key=f"{kind}:{clock.key}:{format_instant(clock.due_at)}",
            kind=kind,
            rendered=render(policy, None, kind, values),
            audience=[owner] if owner else notices.owners(policy, clock.kind),
        )
        notices.deliver(
            session,
            incident=incident,
            policy=policy,
            outgoing=outgoing,
            reach=reach,
            sending=self.sending,
            at=at,
        )

    def _reach(
        self,
        session: Session,
        policy: Policy,
        incident: Incident,
        clock: Clock,
        kind: str,
        owner: str | None,
        at: datetime,
    ) -> Reach:
        reach = self.sending.directory.person(session, owner) if owner else Reach()
        if kind == "breach" and "commander" in incident.roles:
            reach.merge(
                audiences.resolve(
                    session,
                    policy=policy,
                    incident=incident,
                    targets=["commander"],
                    directory=self.sending.directory,
                    at=at,
                )
            )
        if reach.recipients:
            return reach  # someone it could not reach is still told to the fallback
        return notices.who_to_tell(
            session,
            policy=policy,
            incident=incident,
            roles=notices.owners(policy, clock.kind),
            sending=self.sending,
            at=at,
            widen=kind == "breach",
        )
