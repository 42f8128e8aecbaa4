"""The communications domain's clock handlers: stage openings and deadlines, and the notices
that tell people about every other kind's warnings and breaches."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from tocsin.comms import notices
from tocsin.comms.joins import TellJoins
from tocsin.comms.messages import Outgoing, Sending
from tocsin.comms.stages import OpenStage, StageDeadline
from tocsin.comms.templates import Rendered
from tocsin.comms.warroom import OpenWarRoom
from tocsin.incidents import service as incident_service
from tocsin.incidents.clock_registry import ClockRegistry, RecordOnTimeline
from tocsin.incidents.models import Clock, Incident
from tocsin.policy.clock_kinds import ALERTS_JOINED, COMMS, COMMS_OPEN, WAR_ROOM
from tocsin.timesource import now


class Notices:
    """tocsin.incidents.clock_registry.ClockNotices, by message."""

    def __init__(self, sending: Sending) -> None:
        self.sending = sending

    def tell(self, session: Session, incident: Incident, clock: Clock, kind: str) -> None:
        policy = incident_service.policy_of(session, incident).policy
        notices.tell(
            session,
            policy=policy,
            incident=incident,
            clock=clock,
            kind=kind,
            sending=self.sending,
            at=now(),
        )


def register(registry: ClockRegistry, *, sending: Sending) -> None:
    registry.handle([COMMS_OPEN], OpenStage(sending))
    registry.handle([COMMS], StageDeadline(sending, RecordOnTimeline()))
    registry.handle([WAR_ROOM], OpenWarRoom(sending))
    registry.handle([ALERTS_JOINED], TellJoins(sending))


class EscalationUnreached:
    """tocsin.oncall.clock_handlers.Unreached: a step that paged nobody, told to the fallback."""

    def __init__(self, sending: Sending) -> None:
        self.sending = sending

    def __call__(
        self, session: Session, incident: Incident, clock: Clock, problems: Sequence[str]
    ) -> None:
        policy = incident_service.policy_of(session, incident).policy
        about = Outgoing(
            key=f"escalation:{clock.key}",
            kind="page",
            rendered=Rendered("page", clock.label, clock.label),
        )
        notices.unreached(
            session,
            incident=incident,
            policy=policy,
            about=about,
            problems=list(problems) or ["the step reached nobody"],
            sending=self.sending,
            at=now(),
        )
