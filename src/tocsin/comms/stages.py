"""The communication tree: each stage opens on time and is out by its deadline.

- When a stage opens (its `comms_open` clock fires), an `auto` stage is sent to its audience
  (conditions checked), and a `prompt` stage asks the communications lead to send it.
- Its deadline (`comms` clock) is met once every message of the stage is delivered (or a
  person completes it); before the deadline the communications lead is reminded if it is not
  out yet, and a missed deadline tells the commander and the on-call.
- A stage that is an act ("immediately", "in business hours") has no deadline: it is sent
  when it opens, and what cannot be delivered goes to the fallback contact.
- A flag set after a stage opened can make a conditional member of its audience apply
  ("Security Officer, if security-related"): the stage opens again for them (`reopen`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tocsin.comms import audiences, notices, records
from tocsin.comms.messages import Outgoing, Queued, Sending, message_key
from tocsin.comms.templates import context, render
from tocsin.errors import Conflict, NotFound
from tocsin.incidents import clocks as clock_service
from tocsin.incidents import service as incident_service
from tocsin.incidents.clocks import ENGINE_ACTOR, settle
from tocsin.incidents.models import Clock, Incident
from tocsin.policy.clock_kinds import COMMS_OPEN
from tocsin.policy.deadlines import plan_stage_deadline, stage_key, stage_of
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


def reopen(
    session: Session,
    *,
    incident: Incident,
    policy: Policy,
    flags_before: Mapping[str, Any],
    sending: Sending,
    at: datetime,
) -> list[str]:
    """Open again each stage of the incident's severity that has opened and that a flag
    change now owes to someone it did not before; returns the stages reopened.

    The stage is owed to its new members from now: a fresh deadline when the old one is
    settled (met because nobody applied, or already out to the others). An `auto` stage
    is sent again (its messages are keyed by stage and address, so whoever was told is not
    told twice); a `prompt` stage asks the communications lead again.
    """
    if incident.resolved_at is not None:
        return []
    severity = policy.severity(incident.severity)
    opened = _opened_stages(session, incident)
    reopened = []
    for stage in severity.communication:
        if stage_key(severity.id, stage, opening=True) not in opened:
            continue
        newly = _newly_owed(policy, incident, stage, flags_before)
        if not newly or _already_told(session, incident, policy, stage, newly, sending, at):
            continue
        _rearm(session, incident, policy, severity, stage, at)
        act = send_stage if stage.mode == "auto" else prompt
        act(
            session,
            incident=incident,
            policy=policy,
            severity=severity,
            stage=stage,
            sending=sending,
            at=at,
        )
        reopened.append(stage.stage)
    return reopened


def _opened_stages(session: Session, incident: Incident) -> set[str]:
    return {
        c.key
        for c in clock_service.all_clocks(session, incident.id)
        if c.kind == COMMS_OPEN.key and c.state == "fired"
    }


def _newly_owed(
    policy: Policy, incident: Incident, stage: CommunicationStage, flags_before: Mapping[str, Any]
) -> list[str]:
    """Conditional members of the audience that apply now and did not under the old flags."""
    found = []
    for target in stage.audience:
        condition = policy.condition(stage, target)
        if condition is None or not audiences.applies(condition, incident):
            continue
        if not audiences.applies_to(condition, flags_before, incident.type):
            found.append(target)
    return found


def _already_told(
    session: Session,
    incident: Incident,
    policy: Policy,
    stage: CommunicationStage,
    targets: list[str],
    sending: Sending,
    at: datetime,
) -> bool:
    """Everyone the new members reach has this stage's message already (a flag cleared and
    set again): nothing more is owed."""
    reach = audiences.resolve(
        session,
        policy=policy,
        incident=incident,
        targets=targets,
        directory=sending.directory,
        at=at,
        stage=stage,
    )
    key = stage_key(incident.severity, stage)
    told = {row.idempotency_key for row in records.of_stage(session, incident.id, key)}
    return bool(reach.recipients) and all(
        message_key(incident.id, key, recipient) in told for recipient in reach.recipients
    )


def _rearm(
    session: Session,
    incident: Incident,
    policy: Policy,
    severity: Severity,
    stage: CommunicationStage,
    at: datetime,
) -> None:
    """A new deadline for the stage, unless one is still pending (it now covers the new
    members too, as the stage's messages are counted when it is met)."""
    if _pending(session, incident, stage_key(severity.id, stage)) is not None:
        return
    deadline = plan_stage_deadline(policy, severity, stage, at)
    if deadline is not None:
        clock_service.start(session, incident, [deadline], at)


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
