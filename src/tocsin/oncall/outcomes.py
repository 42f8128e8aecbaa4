"""What a message's outcome means for the people it was for and the incident it was about.

The outbox records the outcome; these hooks (tocsin.notify.outbox.Outcomes) run in the same
transaction: a delivered page goes on the incident's timeline, a failure is noted on the
contact method (where its owner sees it) and on the timeline, and the person is reached
through their next notification rule.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tocsin.incidents import timeline
from tocsin.incidents.models import Incident
from tocsin.incidents.service import lock
from tocsin.notify.channels import DeliveryError, mask_address
from tocsin.notify.outbox import Claim
from tocsin.notify.outbox.fallback import NextRule, fall_back, position
from tocsin.oncall.models import ContactMethod, NotificationRule, Person
from tocsin.timesource import as_utc

ACTOR = "tocsin"


class PeopleOutcomes:
    def lock(self, session: Session, claim: Claim) -> Incident | None:
        return None if claim.incident_id is None else lock(session, claim.incident_id)

    def delivered(
        self, session: Session, claim: Claim, subject: Incident | None, at: datetime
    ) -> None:
        _set_contact_error(session, claim.contact_method_id, None)
        if subject is not None and claim.purpose == "page":
            data = {
                "person": _handle(session, claim.person_id),
                "channel": claim.channel,
                "notification_id": claim.id,
            }
            timeline.append(
                session, incident=subject, kind="page_delivered", actor=ACTOR, at=at, data=data
            )

    def still_wanted(self, session: Session, claim: Claim) -> bool:
        return not _acknowledged_since(session, claim)

    def failed(
        self,
        session: Session,
        claim: Claim,
        subject: Incident | None,
        error: DeliveryError,
        at: datetime,
    ) -> str | None:
        """1. Note the error on the contact method. 2. Fall back to the person's next rule.
        3. Record `notification_failed` on the incident's timeline. Returns what was done
        instead (None: nothing else will reach them)."""
        _set_contact_error(session, claim.contact_method_id, error.message)
        fallback = _fall_back(session, claim, subject, at)
        if subject is not None:
            timeline.append(
                session,
                incident=subject,
                kind="notification_failed",
                actor=ACTOR,
                at=at,
                data=_failure_data(session, claim, error, fallback),
            )
        return fallback


def _acknowledged_since(session: Session, claim: Claim) -> bool:
    """A page queued before the incident was acknowledged is not worth retrying."""
    if claim.purpose != "page" or claim.incident_id is None:
        return False
    acknowledged_at = session.scalar(
        select(Incident.acknowledged_at).where(Incident.id == claim.incident_id)
    )
    return acknowledged_at is not None and as_utc(acknowledged_at) >= claim.created_at


def _fall_back(
    session: Session, claim: Claim, incident: Incident | None, at: datetime
) -> str | None:
    """Nobody to reach, or the incident was acknowledged since this page was queued: stop.
    Otherwise walk the person's later rules."""
    if claim.person_id is None or incident is None:
        return None
    acknowledged = incident.acknowledged_at
    if claim.purpose == "page" and acknowledged is not None and acknowledged >= claim.created_at:
        return None
    return fall_back(session, claim, _later_rules(session, claim), at)


def _later_rules(session: Session, claim: Claim) -> list[NextRule]:
    """The person's notification rules after this one, through other contact methods."""
    query = (
        select(NotificationRule, ContactMethod)
        .join(ContactMethod, ContactMethod.id == NotificationRule.contact_method_id)
        .where(
            NotificationRule.person_id == claim.person_id,
            NotificationRule.position > position(claim),
        )
        .order_by(NotificationRule.position, NotificationRule.id)
    )
    if claim.contact_method_id is not None:
        query = query.where(NotificationRule.contact_method_id != claim.contact_method_id)
    return [
        NextRule(rule.position, method.id, method.kind, method.address, method.name)
        for rule, method in session.execute(query)
    ]


def _set_contact_error(session: Session, contact_method_id: int | None, error: str | None) -> None:
    if contact_method_id is None:
        return
    statement = update(ContactMethod).where(ContactMethod.id == contact_method_id)
    if error is None:  # clear a stale error, without writing on every successful send
        statement = statement.where(ContactMethod.last_error.is_not(None))
    session.execute(statement.values(last_error=error).execution_options(synchronize_session=False))


def _handle(session: Session, person_id: int | None) -> str | None:
    if person_id is None:
        return None
    return session.scalar(select(Person.handle).where(Person.id == person_id))


def _failure_data(
    session: Session, claim: Claim, error: DeliveryError, fallback: str | None
) -> dict[str, Any]:
    return {
        "notification_id": claim.id,
        "person": _handle(session, claim.person_id),
        "channel": claim.channel,
        "address": mask_address(claim.address),
        "error": error.message,
        "attempts": claim.attempt,
        "permanent": error.permanent,
        "fallback": fallback,
    }
