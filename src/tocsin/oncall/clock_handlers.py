"""On-call's clock handler: an escalation step that comes due fires and pages its targets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.incidents.clock_registry import ClockRegistry
from tocsin.incidents.clocks import ENGINE_ACTOR, settle
from tocsin.incidents.models import Clock, Incident
from tocsin.oncall import paging
from tocsin.policy.clock_kinds import ESCALATION


class FireEscalationStep:
    """`base_url` is where acknowledge links in pages point (TOCSIN_PUBLIC_URL)."""

    def __init__(self, base_url: str, alert_lines: paging.AlertLines) -> None:
        self.base_url = base_url
        self.alert_lines = alert_lines

    def warn(self, session: Session, subject: Incident, clock: Clock, at: datetime) -> None:
        """Escalation steps are not warned about (the kind declares warns=False)."""

    def due(self, session: Session, subject: Incident, clock: Clock, at: datetime) -> None:
        settle(session, incident=subject, clock=clock, state="fired", at=at, actor=ENGINE_ACTOR)
        # The pages are queued in this same transaction: fired and paged, or neither.
        paging.page(
            session,
            incident=subject,
            clock=clock,
            at=at,
            base_url=self.base_url,
            alert_lines=self.alert_lines,
        )


def register(registry: ClockRegistry, *, base_url: str, alert_lines: paging.AlertLines) -> None:
    registry.handle([ESCALATION], FireEscalationStep(base_url, alert_lines))
