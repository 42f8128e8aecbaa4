"""Communication use cases: publishing an update, sending a stage a person was prompted to
send, previewing a template, and the war room. They run in the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from tocsin.comms import audiences, stages, updates, warroom
from tocsin.comms.messages import Queued, Sending
from tocsin.comms.templates import Rendered, context, render
from tocsin.config import Settings
from tocsin.incidents import service as incident_service
from tocsin.incidents import timeline
from tocsin.incidents.models import Incident
from tocsin.oncall.directory import OnCallDirectory
from tocsin.policy.loader import LoadedPolicy
from tocsin.timesource import now


def sending(settings: Settings) -> Sending:
    """How this deployment sends: its public URL, its admins, and the on-call file."""
    return Sending(settings.public_url, OnCallDirectory(), settings.admin_emails)


@dataclass(frozen=True)
class UpdateSent:
    incident: Incident
    number: int
    queued: Queued


def publish_update(
    session: Session,
    *,
    incident_id: str,
    message: str,
    actor: str,
    sending: Sending,
    audience: Sequence[str] = (),
    template: str | None = None,
    fields: Mapping[str, Any] | None = None,
) -> UpdateSent:
    """1. Record the update, meeting and re-arming the update clocks it answers.
    2. Send it to its audience (the severity's update audience by default) from the policy's
       update template. 3. Post it in the war room, if the incident has one."""
    policy = _policy(session, incident_id)
    audience = audiences.normalize(policy.policy, audience)
    published = incident_service.publish_update(
        session, incident_id=incident_id, message=message, actor=actor, audience=audience
    )
    queued = updates.send_update(
        session,
        incident=published.incident,
        policy=policy.policy,
        number=published.number,
        message=message,
        at=published.at,
        sending=sending,
        actor=actor,
        audience=audience,
        template=template,
        fields=fields,
    )
    room = warroom.room_of(policy.policy)
    if room is None or f"{audiences.POLICY_CHANNEL}{room.id}" not in audience:
        key = f"update:{published.number}"
        warroom.post(
            session, incident=published.incident, policy=policy.policy, key=key, text=message
        )
    return UpdateSent(published.incident, published.number, queued)


def send_stage(
    session: Session,
    *,
    incident_id: str,
    stage_id: str,
    actor: str,
    sending: Sending,
    fields: Mapping[str, Any] | None = None,
) -> Queued:
    """A person sends a stage of the communication tree (a prompt stage, or one to resend)."""
    incident = incident_service.lock(session, incident_id)
    policy = incident_service.policy_of(session, incident).policy
    severity, stage = stages.find_stage(policy, incident, stage_id)
    return stages.send_stage(
        session,
        incident=incident,
        policy=policy,
        severity=severity,
        stage=stage,
        sending=sending,
        at=now(),
        actor=actor,
        fields=fields,
    )


def preview(
    session: Session,
    *,
    incident_id: str,
    template: str | None,
    builtin: str,
    sending: Sending,
    fields: Mapping[str, Any] | None = None,
    message: str = "",
) -> Rendered:
    """A template rendered against the live incident, as it would be sent now."""
    incident = incident_service.get(session, incident_id)
    policy = incident_service.policy_of(session, incident).policy
    number = 1 + timeline.count(session, incident.id, kind="update_published")
    values = context(
        incident,
        policy,
        base_url=sending.base_url,
        extra={
            "fields": dict(fields or {}),
            "update": {"number": number, "message": message, "status": incident.status},
        },
    )
    return render(policy, template, builtin, values)


def _policy(session: Session, incident_id: str) -> LoadedPolicy:
    return incident_service.policy_of(session, incident_service.get(session, incident_id))
