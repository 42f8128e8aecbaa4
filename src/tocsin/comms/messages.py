"""Queueing a message to its recipients, and recording that it was said.

One outbox row per recipient, keyed (incident, what is being said, address), in the caller's
transaction: so a message is queued exactly once however often the engine or a person asks,
and it leaves only if the act that caused it commits. Each act is one `message_queued` event
on the incident's timeline with its audience, channels, template and who it reached; what
reached nobody says why, and the caller hands that on to the fallback contact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256
from typing import Any

from sqlalchemy.orm import Session

from tocsin.comms.recipients import Directory, Reach, Recipient
from tocsin.comms.templates import Rendered
from tocsin.incidents import timeline
from tocsin.incidents.models import Incident
from tocsin.notify import outbox

SAMPLE = 20  # recipients a timeline event names before it just counts


@dataclass(frozen=True)
class Sending:
    """What sending needs from the deployment: where links point, who the admins are (the
    fallback when the policy names none), and how to reach the people of the on-call file."""

    base_url: str
    directory: Directory
    admin_emails: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outgoing:
    """One thing being said.

    - key: what is being said, stable across retries ("comms:P0:extended", "update:3");
    - kind: stage, update, reminder, breach, started, prompt or unreached;
    - purpose: the outbox purpose (notify or update).
    """

    key: str
    kind: str
    rendered: Rendered
    audience: Sequence[str] = ()
    stage: str | None = None
    purpose: str = "notify"


@dataclass
class Queued:
    count: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def reached_nobody(self) -> bool:
        return self.count == 0


def queue(
    session: Session,
    *,
    incident: Incident,
    outgoing: Outgoing,
    reach: Reach,
    actor: str,
    at: datetime,
) -> Queued:
    """Queue `outgoing` to everyone in `reach` and record it on the incident's timeline."""
    queued = Queued(problems=list(reach.problems))
    for recipient in reach.recipients:
        queued.count += int(_enqueue(session, incident, outgoing, recipient))
    timeline.append(
        session,
        incident=incident,
        kind="message_queued",
        actor=actor,
        at=at,
        data=_event(outgoing, reach),
    )
    return queued


def message_key(incident_id: str, key: str, recipient: Recipient) -> str:
    """Stable per (incident, message, address); the address is hashed, as it may be a secret
    webhook URL and keys are visible to receivers."""
    digest = sha256(f"{recipient.channel}|{recipient.address}".encode()).hexdigest()[:16]
    return f"{incident_id}/{key}/{digest}"[: outbox.queue.KEY_LENGTH]


DRILL_SUBJECT = "[DRILL] "
DRILL_BODY = "DRILL - this is an exercise."


def drill_marked(incident: Incident, subject: str, body: str) -> tuple[str, str]:
    """A drill's message says so in its subject and at the top of its body, whatever
    template the policy uses."""
    if not incident.flags.get("drill"):
        return subject, body
    if not subject.startswith(DRILL_SUBJECT):
        subject = DRILL_SUBJECT + subject
    if DRILL_BODY not in body:
        body = f"{DRILL_BODY}\n\n{body}"
    return subject, body


def _enqueue(
    session: Session, incident: Incident, outgoing: Outgoing, recipient: Recipient
) -> bool:
    subject, body = drill_marked(incident, outgoing.rendered.subject, outgoing.rendered.body)
    return outbox.enqueue(
        session,
        idempotency_key=message_key(incident.id, outgoing.key, recipient),
        purpose=outgoing.purpose,
        channel=recipient.channel,
        address=recipient.address,
        subject=subject,
        body=body,
        data={**recipient.data, "incident_id": incident.id, "comms": _tag(outgoing, recipient)},
        incident_id=incident.id,
        person_id=recipient.person_id,
        contact_method_id=recipient.contact_method_id,
        rule_position=recipient.rule_position,
    )


def _tag(outgoing: Outgoing, recipient: Recipient) -> dict[str, Any]:
    """What the outbox row is, for the incident's communications list and its outcome."""
    return {
        "key": outgoing.key,
        "kind": outgoing.kind,
        "stage": outgoing.stage,
        "audience": list(outgoing.audience),
        "template": outgoing.rendered.template,
        "recipient": recipient.name,
    }


def _event(outgoing: Outgoing, reach: Reach) -> dict[str, Any]:
    names = [r.name for r in reach.recipients]
    return {
        "key": outgoing.key,
        "kind": outgoing.kind,
        "stage": outgoing.stage,
        "audience": list(outgoing.audience),
        "template": outgoing.rendered.template,
        "subject": outgoing.rendered.subject,
        "recipients": names[:SAMPLE],
        "count": len(names),
        "channels": sorted({r.channel for r in reach.recipients}),
        "problems": reach.problems,
    }
