"""Telling people about clocks: before one is due, when one is missed, when one starts.

Who is told, for each kind: the role the policy's `reminders` names for it (by default the
communications lead for updates, the security lead for regulatory notices), else the
commander, else whoever the incident's escalation policy would page first. A breach also
tells the commander and the on-call. A message that reaches nobody goes to the policy's
`fallback` audience, else to the admins (TOCSIN_ADMIN_EMAIL); it is never only a timeline line.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.comms import audiences
from tocsin.comms.messages import Outgoing, Queued, Sending, queue
from tocsin.comms.recipients import Reach, Recipient
from tocsin.comms.templates import context, render
from tocsin.incidents.chain import format_instant
from tocsin.incidents.models import Clock, Incident
from tocsin.policy.clock_kinds import REGULATORY, UPDATE, kind_of
from tocsin.policy.schema import Policy

log = logging.getLogger("tocsin.comms")
ACTOR = "tocsin"

# Role ids a policy commonly gives the people who owe each kind, most specific first.
_OWNERS: dict[str, tuple[str, ...]] = {
    UPDATE.key: ("communications_lead", "communication_lead", "comms_lead"),
    REGULATORY.key: ("security_lead", "compliance_lead", "security_officer", "legal"),
}


def owners(policy: Policy, clock_kind: str) -> list[str]:
    """The roles reminded about a clock of this kind, then the commander."""
    kind = kind_of(clock_kind).key
    named = list(policy.reminders.get(kind, ()))
    preferred = [r for r in _OWNERS.get(kind, ()) if r in policy.role_ids()]
    roles = named or preferred
    return list(dict.fromkeys([*roles, "commander"]))


def clock_values(clock: Clock, at: datetime) -> dict[str, object]:
    minutes = max(0, round((clock.due_at - at).total_seconds() / 60))
    return {
        "kind": clock.kind,
        "key": clock.key,
        "label": clock.label,
        "due_at": format_instant(clock.due_at).replace("T", " ")[:16],
        "minutes_left": minutes,
        "state": clock.state,
    }


def who_to_tell(
    session: Session,
    *,
    policy: Policy,
    incident: Incident,
    roles: Sequence[str],
    sending: Sending,
    at: datetime,
    widen: bool = False,
) -> Reach:
    """The first of `roles` that reaches someone, else the on-call; `widen` (a breach) also
    tells the commander and the on-call."""
    reach = Reach()
    for role in roles:
        found = audiences.resolve(
            session,
            policy=policy,
            incident=incident,
            targets=[role],
            directory=sending.directory,
            at=at,
        )
        if found.recipients:
            reach.merge(found)
            if not widen:
                return reach
    reach.merge(sending.directory.on_call(session, incident, at))
    return reach


def tell(
    session: Session,
    *,
    policy: Policy,
    incident: Incident,
    clock: Clock,
    kind: str,
    sending: Sending,
    at: datetime,
    stage: str | None = None,
) -> Queued:
    """A reminder, breach or start notice about `clock`, to the people who owe it."""
    widen = kind == "breach"
    reach = who_to_tell(
        session,
        policy=policy,
        incident=incident,
        roles=owners(policy, clock.kind),
        sending=sending,
        at=at,
        widen=widen,
    )
    values = context(
        incident, policy, base_url=sending.base_url, extra={"clock": clock_values(clock, at)}
    )
    outgoing = Outgoing(
        key=f"{kind}:{clock.key}:{format_instant(clock.due_at)}",
        kind=kind,
        rendered=render(policy, None, kind, values),
        audience=owners(policy, clock.kind),
        stage=stage,
    )
    return deliver(
        session,
        incident=incident,
        policy=policy,
        outgoing=outgoing,
        reach=reach,
        sending=sending,
        at=at,
    )


def deliver(
    session: Session,
    *,
    incident: Incident,
    policy: Policy,
    outgoing: Outgoing,
    reach: Reach,
    sending: Sending,
    at: datetime,
    actor: str = ACTOR,
) -> Queued:
    """Queue `outgoing`; if it reached nobody (or some of its audience), tell the fallback.
    A drill with a drill audience tells only that audience."""
    reach = drill_reach(session, policy=policy, incident=incident, sending=sending, at=at) or reach
    queued = queue(session, incident=incident, outgoing=outgoing, reach=reach, actor=actor, at=at)
    if queued.problems:
        unreached(
            session,
            incident=incident,
            policy=policy,
            about=outgoing,
            problems=queued.problems,
            sending=sending,
            at=at,
        )
    return queued


def unreached(
    session: Session,
    *,
    incident: Incident,
    policy: Policy,
    about: Outgoing,
    problems: Sequence[str],
    sending: Sending,
    at: datetime,
) -> Queued:
    """Tell the fallback contact that a message (or part of its audience) reached nobody."""
    reach = drill_reach(
        session, policy=policy, incident=incident, sending=sending, at=at
    ) or fallback(session, policy=policy, incident=incident, sending=sending, at=at)
    problem = f"{about.rendered.subject}\n" + "\n".join(f"- {p}" for p in problems)
    extra = {"fields": {"problem": problem, "about": about.rendered.subject}}
    values = context(incident, policy, base_url=sending.base_url, extra=extra)
    outgoing = Outgoing(
        key=f"unreached:{about.key}",
        kind="unreached",
        rendered=render(policy, None, "unreached", values),
        audience=list(policy.fallback) or ["admins"],
    )
    if not reach.recipients:
        log.error("nobody to tell that %s reached nobody: %s", about.key, "; ".join(problems))
    return queue(session, incident=incident, outgoing=outgoing, reach=reach, actor=ACTOR, at=at)


def drill_reach(
    session: Session, *, policy: Policy, incident: Incident, sending: Sending, at: datetime
) -> Reach | None:
    """The drill audience of a drill incident (flag `drill_audience`), or None: the message
    goes to whom it would otherwise."""
    audience = incident.flags.get("drill_audience")
    if not incident.flags.get("drill") or not isinstance(audience, str) or not audience:
        return None
    return audiences.resolve(
        session,
        policy=policy,
        incident=incident,
        targets=[audience],
        directory=sending.directory,
        at=at,
    )


def fallback(
    session: Session, *, policy: Policy, incident: Incident, sending: Sending, at: datetime
) -> Reach:
    """The policy's fallback audiences; else the admins (TOCSIN_ADMIN_EMAIL)."""
    if policy.fallback:
        return audiences.resolve(
            session,
            policy=policy,
            incident=incident,
            targets=policy.fallback,
            directory=sending.directory,
            at=at,
        )
    admins = [Recipient(address, "email", address) for address in sending.admin_emails]
    problems = (
        [] if admins else ["no fallback contact: set TOCSIN_ADMIN_EMAIL or the policy's fallback"]
    )
    return Reach(admins, problems)
