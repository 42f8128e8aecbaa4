"""Telling the people of an acknowledged incident that new alerts joined it.

Once an incident is acknowledged, nobody is paged any more, so an alert that joins it would
change nothing anyone sees. Instead the intake flow starts an `alerts_joined` clock (one at a
time per incident) the first time alerts join after the acknowledgement. When it fires, after
the policy's `routing.joined_notice_after`, the acknowledger and the commander are told in
one message how many alerts joined since it started ("3 new alerts joined INC-…"): a storm
makes one message, not one per alert. If neither can be reached, whoever a page would wake is
told; if nobody at all, the fallback contact, never only a timeline line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.comms import audiences, notices
from tocsin.comms.messages import Outgoing, Sending
from tocsin.comms.recipients import Reach
from tocsin.comms.templates import context, render
from tocsin.incidents import clocks
from tocsin.incidents import service as incident_service
from tocsin.incidents.clocks import ENGINE_ACTOR, settle
from tocsin.incidents.models import Clock, Incident, TimelineEvent
from tocsin.policy.clock_kinds import ALERTS_JOINED
from tocsin.policy.deadlines import PlannedClock
from tocsin.policy.schema import Policy

KEY = ALERTS_JOINED.key
LISTED = 10  # alerts a notice lists by name before it just counts
AUDIENCE = ("acknowledger", "commander")


def expect(session: Session, *, incident: Incident, at: datetime, after: timedelta) -> bool:
    """Alerts joined the acknowledged `incident` at `at`: tell its people `after` from now,
    unless a notice is already on its way (it will count these too). True if one started."""
    if any(c.key == KEY for c in clocks.pending(session, incident.id)):
        return False
    planned = PlannedClock(
        kind=KEY,
        key=KEY,
        due_at=at + after,
        action="notify",
        label="Tell the acknowledger and the commander that new alerts joined",
        targets=AUDIENCE,
        stop_on=None,
    )
    clocks.start(session, incident, [planned], at)
    return True


@dataclass
class Joined:
    count: int = 0
    summaries: list[str] = field(default_factory=list)


def joined_untold(session: Session, incident_id: str) -> Joined:
    """The alerts attached to the incident since it was acknowledged or its people were last
    told, as its timeline recorded them (in the timeline's order, so alerts that arrived in
    the same instant as the acknowledgement are counted exactly)."""
    query = (
        select(TimelineEvent.kind, TimelineEvent.data)
        .where(
            TimelineEvent.incident_id == incident_id,
            TimelineEvent.kind.in_(("acknowledged", "clock_fired", "alerts_attached")),
        )
        .order_by(TimelineEvent.seq)
    )
    joined = Joined()
    for kind, data in session.execute(query):
        if kind == "acknowledged" or (kind == "clock_fired" and data.get("key") == KEY):
            joined = Joined()
        elif kind == "alerts_attached":
            joined.count += int(data.get("count", 0))
            joined.summaries += [str(s) for s in data.get("summaries") or data["dedup_keys"]]
    return joined


class TellJoins:
    """Handler of `alerts_joined`: one message to the acknowledger and the commander."""

    def __init__(self, sending: Sending) -> None:
        self.sending = sending

    def warn(self, session: Session, subject: Incident, clock: Clock, at: datetime) -> None:
        """Not warned about (the kind declares warns=False)."""

    def due(self, session: Session, subject: Incident, clock: Clock, at: datetime) -> None:
        """1. Count what joined since the people were last told. 2. Settle the clock (the
        count starts again from here). 3. Tell them."""
        joined = joined_untold(session, subject.id)
        settle(
            session,
            incident=subject,
            clock=clock,
            state="fired",
            at=at,
            actor=ENGINE_ACTOR,
            event="clock_fired",
        )
        if joined.count == 0:
            return
        policy = incident_service.policy_of(session, subject).policy
        outgoing = Outgoing(
            key=f"joined:{clock.id}",
            kind="joined",
            rendered=render(policy, None, "joined", self._values(subject, policy, joined)),
            audience=AUDIENCE,
        )
        reach = self._reach(session, policy, subject, at)
        notices.deliver(
            session,
            incident=subject,
            policy=policy,
            outgoing=outgoing,
            reach=reach,
            sending=self.sending,
            at=at,
        )

    def _values(self, incident: Incident, policy: Policy, joined: Joined) -> dict[str, object]:
        lines = [f"- {s}" for s in joined.summaries[:LISTED]]
        if joined.count > len(lines):
            lines.append(f"- and {joined.count - len(lines)} more")
        fields = {
            "count": joined.count,
            "alerts": "\n".join(lines),
            "acknowledged_by": incident.acknowledged_by or "someone",
        }
        return context(incident, policy, base_url=self.sending.base_url, extra={"fields": fields})

    def _reach(self, session: Session, policy: Policy, incident: Incident, at: datetime) -> Reach:
        """The acknowledger (a person of the on-call file) and the commander; if neither can
        be reached, the on-call; what reached nobody goes to the fallback."""
        tried = Reach()
        holder = incident.acknowledged_by
        if holder and ":" not in holder:  # "integration:x" acknowledged at the source
            tried.merge(self.sending.directory.person(session, holder))
        if "commander" in policy.role_ids():
            tried.merge(
                audiences.resolve(
                    session,
                    policy=policy,
                    incident=incident,
                    targets=["commander"],
                    directory=self.sending.directory,
                    at=at,
                )
            )
        if tried.recipients:
            return Reach(list(tried.recipients))
        tried.merge(self.sending.directory.on_call(session, incident, at))
        return tried if not tried.recipients else Reach(list(tried.recipients))
