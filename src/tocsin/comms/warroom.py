"""The war room: the chat channel a policy names for each incident (`#incident-{{ incident.id }}`).

With a Slack bot token configured (TOCSIN_SLACK_BOT_TOKEN), declaring an incident opens the
room through the Slack Web API (a `war_room` clock the engine fires at once, so the work is
durable), inviting the role holders who have a Slack contact method; every update and role
change is posted there. The policy's conference bridge goes into every page and update
through the templates' `bridge` variable. Without a token there is no room, and nothing is
reported missing: the policy's channel is then a name for people to create by hand.
"""

from __future__ import annotations

import os
from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.comms.audiences import render_name
from tocsin.comms.messages import Sending
from tocsin.comms.templates import context, render
from tocsin.incidents import service as incident_service
from tocsin.incidents.clocks import ENGINE_ACTOR, settle
from tocsin.incidents.models import Clock, Incident
from tocsin.notify import outbox
from tocsin.policy.clock_kinds import WAR_ROOM
from tocsin.policy.deadlines import PlannedClock
from tocsin.policy.schema import Channel, Policy

TOKEN_ENV = "TOCSIN_SLACK_BOT_TOKEN"
PLACEHOLDERS = ("{{ incident.id }}", "{{incident.id}}", "[incident-id]")


def enabled() -> bool:
    return bool(os.environ.get(TOKEN_ENV, "").strip())


def room_of(policy: Policy) -> Channel | None:
    """The policy's per-incident Slack channel, if it names one."""
    for channel in policy.channels:
        address = channel.address or ""
        if channel.kind == "slack" and any(p in address for p in PLACEHOLDERS):
            return channel
    return None


def plan(policy: Policy, at: datetime) -> list[PlannedClock]:
    room = room_of(policy)
    if room is None or not enabled():
        return []
    return [
        PlannedClock(
            kind=WAR_ROOM.key,
            key=WAR_ROOM.key,
            due_at=at,
            action="notify",
            label=f"Open the war room {room.address}",
            targets=(),
            stop_on=None,
        )
    ]


def room_name(policy: Policy, incident: Incident) -> str | None:
    room = room_of(policy)
    return None if room is None or room.address is None else render_name(room.address, incident)


def post(session: Session, *, incident: Incident, policy: Policy, key: str, text: str) -> bool:
    """Post `text` in the incident's war room; False if it has none."""
    name = room_name(policy, incident)
    if name is None or not enabled():
        return False
    return outbox.enqueue(
        session,
        idempotency_key=f"{incident.id}/war-room/{key}"[:300],
        purpose="notify",
        channel="slack",
        address=name,
        subject="",
        body=text,
        data={"incident_id": incident.id, "comms": {"key": key, "kind": "war_room"}},
        incident_id=incident.id,
    )


class OpenWarRoom:
    """Handler of `war_room`: create the channel, invite the role holders, say what it is."""

    def __init__(self, sending: Sending) -> None:
        self.sending = sending

    def warn(self, session: Session, subject: Incident, clock: Clock, at: datetime) -> None:
        """Not warned about (the kind declares warns=False)."""

    def due(self, session: Session, subject: Incident, clock: Clock, at: datetime) -> None:
        settle(session, incident=subject, clock=clock, state="fired", at=at, actor=ENGINE_ACTOR)
        policy = incident_service.policy_of(session, subject).policy
        name = room_name(policy, subject)
        if name is None:
            return
        invite = [self.sending.directory.slack_user(session, h) for h in subject.roles.values()]
        rendered = render(
            policy, None, "notice", context(subject, policy, base_url=self.sending.base_url)
        )
        outbox.enqueue(
            session,
            idempotency_key=f"{subject.id}/war-room/open",
            purpose="notify",
            channel="slack",
            address=name,
            subject=rendered.subject,
            body=rendered.body,
            data={
                "incident_id": subject.id,
                "war_room": {"name": name, "invite": [u for u in invite if u]},
                "comms": {"key": "war_room", "kind": "war_room", "recipient": name},
            },
            incident_id=subject.id,
        )
