"""The communication tree: each stage opens on time and is out by its deadline.

- When a stage opens (its `comms_open` clock fires), an `auto` stage is sent to its audience
  (conditions checked), and a `prompt` stage asks the communications lead to send it.
- Its deadline (`comms` clock) is met once every message of the stage is delivered (or a
  person completes it); before the deadline the communications lead is reminded if it is not
  out yet, and a missed deadline tells the commander and the on-call.
- A stage that is an act ("immediately", "in business hours") has no deadline: it is sent
  when it opens, and what cannot be delivered goes to the fallback contact.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tocsin.comms import audiences, notices
from tocsin.comms.messages import Outgoing, Queued, Sending
from tocsin.comms.templates import context, render
from tocsin.errors import Conflict, NotFound
from tocsin.incidents import clocks as clock_service
from tocsin.incidents import service as incident_service
from tocsin.incidents.clocks import ENGINE_ACTOR, settle
from tocsin.incidents.models import Clock, Incident
from tocsin.policy.deadlines import stage_key, stage_of
from tocsin.policy.schema import CommunicationStage, Policy, Severity


def send_stage(
    session: Session,
    *,
    incident: Incident,
    policy: Policy,
    severity: Severity,
    stage: CommunicationStage,
    sending: Sending,
    at: datetime,
    actor: str = ENGINE_ACTOR,
    fields: Mapping[str, Any] | None = None,
) -> Queued:
    """Send the stage's message to its audience; a stage with nobody left to tell (every
    member conditional and not applying) is met at once."""
    reach = audiences.resolve(
        session,
        policy=policy,
        incident=incident,
        targets=stage.audience,
        directory=sending.directory,
        at=at,
        stage=stage,
    )
    values = context(
        incident,
        policy,
        base_url=sending.base_url,
        extra={"stage": {"id": stage.stage, "name": stage.title}, "fields": dict(fields or {})},
    )
    outgoing = Outgoing(
        key=stage_key(severity.id, stage),
        kind="stage",
        rendered=render(policy, stage.template, "notice", values),
        audience=stage.audience,
        stage=stage.stage,
    )
    queued = notices.deliver(
        session,
        incident=incident,
        policy=policy,
        outgoing=outgoing,
        reach=reach,
        sending=sending,
        at=at,
        actor=actor,
    )
    if not reach.recipients and not reach.problems:
        clock_service.meet(session, incident=incident, key=outgoing.key, actor=actor, at=at)
    return queued


def prompt(
    session: Session,
    *,
    incident: Incident,
    policy: Policy,
    severity: Severity,
    stage: CommunicationStage,
    sending: Sending,
    at: datetime,
) -> Queued:
    """Ask the communications lead (else the commander, else the on-call) to send a stage.

    A stage whose every member is conditional and none applies ("customer communication if
    needed", not customer-facing) is owed to nobody: it is met at once, and nobody is asked."""
    key = stage_key(severity.id, stage)
    if stage.conditions and not _anyone_applies(policy, incident, stage):
        clock_service.meet(session, incident=incident, key=key, actor=ENGINE_ACTOR, at=at)
        return Queued()
    deadline = _pending(session, incident, key)
    reach = notices.who_to_tell(
        session,
        policy=policy,
        incident=incident,
        roles=notices.owners(policy, "update"),
        sending=sending,
        at=at,
    )
    clock = notices.clock_values(deadline, at) if deadline is not None else {}
    values = context(
        incident,
        policy,
        base_url=sending.base_url,
        extra={"stage": {"id": stage.stage, "name": stage.title}, "clock": clock},
    )
    outgoing = Outgoing(
        key=f"prompt:{stage_key(severity.id, stage)}",
        kind="prompt",
        rendered=render(policy, None, "prompt", values),
        audience=notices.owners(policy, "update"),
        stage=stage.stage,
    )
    return notices.deliver(
        session,
        incident=incident,
        policy=policy,
        outgoing=outgoing,
        reach=reach,
        sending=sending,
        at=at,
    )


def find_stage(
    policy: Policy, incident: Incident, stage_id: str
) -> tuple[Severity, CommunicationStage]:
    """The stage a person asks to send: the current severity's, else any severity's stage
    still pending on the incident (owed from before a severity change)."""
    found = stage_of(policy, f"comms:{incident.severity}:{stage_id}")
    if found is None:
        for severity in policy.severities:
            found = found or stage_of(policy, f"comms:{severity.id}:{stage_id}")
    if found is None:
        allowed = [s.stage for s in policy.severity(incident.severity).communication]
        raise NotFound(f"no communication stage {stage_id!r}", field="stage", allowed=allowed)
    return found


def _anyone_applies(policy: Policy, incident: Incident, stage: CommunicationStage) -> bool:
    for target in stage.audience:
        condition = policy.condition(stage, target)
        if condition is None or audiences.applies(condition, incident):
            return True
    return False


def _pending(session: Session, incident: Incident, key: str) -> Clock | None:
    return next((c for c in clock_service.pending(session, incident.id) if c.key == key), None)


class OpenStage:
    """Handler of `comms_open`: the stage's window opens."""

    def __init__(self, sending: Sending) -> None:
        self.sending = sending

    def warn(self, session: Session, subject: Incident, clock: Clock, at: datetime) -> None:
        """Openings are not warned about (the kind declares warns=False)."""

    def due(self, session: Session, subject: Incident, clock: Clock, at: datetime) -> None:
        settle(session, incident=subject, clock=clock, state="fired", at=at, actor=ENGINE_ACTOR)
        policy = incident_service.policy_of(session, subject).policy
        found = stage_of(policy, clock.key)
        if found is None:
            raise Conflict(f"{clock.key} names no stage of policy {policy.name}")
        severity, stage = found
        act = send_stage if stage.mode == "auto" else prompt
        act(
            session,
            incident=subject,
            policy=policy,
            severity=severity,
            stage=stage,
            sending=self.sending,
            at=at,
        )


class StageDeadline:
    """Handler of `comms`: remind before the deadline if the stage is not out; a miss is a
    breach that tells the commander and the on-call."""

    def __init__(self, sending: Sending, record: Any) -> None:
        self.sending = sending
        self.record = record  # the incidents domain's timeline handler (clock_warning event)

    def warn(self, session: Session, subject: Incident, clock: Clock, at: datetime) -> None:
        self.record.warn(session, subject, clock, at)
        policy = incident_service.policy_of(session, subject).policy
        notices.tell(
            session,
            policy=policy,
            incident=subject,
            clock=clock,
            kind="reminder",
            sending=self.sending,
            at=at,
        )

    def due(self, session: Session, subject: Incident, clock: Clock, at: datetime) -> None:
        self.record.due(session, subject, clock, at)
        policy = incident_service.policy_of(session, subject).policy
        notices.tell(
            session,
            policy=policy,
            incident=subject,
            clock=clock,
            kind="breach",
            sending=self.sending,
            at=at,
        )
