"""The reviews domain's clock handlers: a review's and an action item's reminders.

Before the due time the owner is reminded; at it the clock is breached and the owner told
it is overdue, and the incident's commander too. Who is reached and how is the
communications domain's business: the engine passes `ReviewNotices` in (tocsin.flows.reviews).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from tocsin.incidents import service as incident_service
from tocsin.incidents import timeline
from tocsin.incidents.chain import format_instant
from tocsin.incidents.clock_registry import ClockRegistry
from tocsin.incidents.clocks import ENGINE_ACTOR, settle
from tocsin.incidents.models import Clock, Incident
from tocsin.policy.clock_kinds import ACTION_ITEM, REVIEW
from tocsin.reviews import service
from tocsin.reviews.models import ActionItem, Review


class ReviewNotices(Protocol):
    def tell(
        self,
        session: Session,
        incident: Incident,
        clock: Clock,
        kind: str,
        owner: str | None,
    ) -> None:
        """`kind` is "reminder" (before it is due) or "breach" (overdue)."""
        ...


class RemindOwner:
    """Warn the subject's owner before the due time; at it, breach and tell them again."""

    def __init__(self, notices: ReviewNotices | None) -> None:
        self.notices = notices

    def warn(
        self, session: Session, subject: Review | ActionItem, clock: Clock, at: datetime
    ) -> None:
        clock.warned_at = at
        clock.next_check_at = clock.due_at
        incident = incident_service.get(session, subject.incident_id)
        timeline.append(
            session,
            incident=incident,
            kind="clock_warning",
            actor=ENGINE_ACTOR,
            at=at,
            data={
                "key": clock.key,
                "kind": clock.kind,
                "label": clock.label,
                "due_at": format_instant(clock.due_at),
                "minutes_left": max(0, round((clock.due_at - at).total_seconds() / 60)),
                "targets": [subject.owner] if subject.owner else [],
            },
        )
        if self.notices is not None:
            self.notices.tell(session, incident, clock, "reminder", subject.owner)

    def due(
        self, session: Session, subject: Review | ActionItem, clock: Clock, at: datetime
    ) -> None:
        incident = incident_service.get(session, subject.incident_id)
        settle(session, incident=incident, clock=clock, state="breached", at=at, actor=ENGINE_ACTOR)
        if self.notices is not None:
            self.notices.tell(session, incident, clock, "breach", subject.owner)


def register(registry: ClockRegistry, *, notices: ReviewNotices | None) -> None:
    registry.subject(service.REVIEW_SUBJECT, service.lock_review)
    registry.subject(service.ITEM_SUBJECT, service.lock_item)
    registry.handle([REVIEW, ACTION_ITEM], RemindOwner(notices))
