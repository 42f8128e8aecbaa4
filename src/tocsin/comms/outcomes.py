"""What a message's outcome means for communications: a stage is met once all its messages
are out, a delivered message is an event on the timeline, and a message nothing else will
deliver is told to the fallback contact."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.comms import notices, records
from tocsin.comms.messages import Outgoing, Sending
from tocsin.comms.templates import Rendered
from tocsin.incidents import clocks as clock_service
from tocsin.incidents import service as incident_service
from tocsin.incidents import timeline
from tocsin.incidents.models import Incident
from tocsin.notify.channels import DeliveryError, mask_address
from tocsin.notify.outbox import Claim

ACTOR = "tocsin"
SENT = frozenset({"sent", "bundled"})


def delivered(session: Session, incident: Incident, claim: Claim, at: datetime) -> None:
    tag = claim.data.get("comms") or {}
    timeline.append(
        session,
        incident=incident,
        kind="message_delivered",
        actor=ACTOR,
        at=at,
        data={
            "notification_id": claim.id,
            "key": tag.get("key"),
            "recipient": tag.get("recipient"),
            "channel": claim.channel,
        },
    )
    if tag.get("kind") == "stage":
        _meet_if_out(session, incident, str(tag["key"]), at)


def _meet_if_out(session: Session, incident: Incident, key: str, at: datetime) -> None:
    rows = records.of_stage(session, incident.id, key)
    if rows and all(row.status in SENT for row in rows):
        clock_service.meet(session, incident=incident, key=key, actor=ACTOR, at=at)


def undeliverable(
    session: Session,
    incident: Incident,
    claim: Claim,
    error: DeliveryError,
    sending: Sending,
    at: datetime,
) -> None:
    """Nothing else will deliver this message: tell the fallback contact (but never about a
    fallback message itself, which would only go round in circles)."""
    tag = claim.data.get("comms") or {}
    if tag.get("kind") == "unreached":
        return
    who = tag.get("recipient") or claim.data.get("person") or mask_address(claim.address)
    about = Outgoing(
        key=f"failed:{claim.id}",
        kind=str(tag.get("kind") or claim.purpose),
        rendered=Rendered(str(tag.get("template") or claim.purpose), claim.subject, claim.body),
    )
    policy = incident_service.policy_of(session, incident).policy
    problem = f"{who} ({claim.channel} {mask_address(claim.address)}): {error.message}"
    notices.unreached(
        session,
        incident=incident,
        policy=policy,
        about=about,
        problems=[problem],
        sending=sending,
        at=at,
    )
