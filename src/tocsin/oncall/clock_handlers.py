"""On-call's clock handler: an escalation step that comes due fires and pages its targets.

A step that reached nobody (a role nobody holds, no on-call file applied, nobody with a
notification rule) is settled `failed`, never "fired", and the fallback contact is told.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from tocsin.incidents.clock_registry import ClockRegistry
from tocsin.incidents.clocks import ENGINE_ACTOR, settle
from tocsin.incidents.models import Clock, Incident
from tocsin.oncall import paging
from tocsin.policy.clock_kinds import ESCALATION


class Unreached(Protocol):
    """Tells the fallback contact that a step reached nobody (the communications domain)."""

    def __call__(
        self, session: Session, incident: Incident, clock: Clock, problems: Sequence[str]
    ) -> None: ...


class FireEscalationStep:
    """`base_url` is where acknowledge links in pages point (TOCSIN_PUBLIC_URL)."""

    def __init__(
        self, base_url: str, alert_lines: paging.AlertLines, unreached: Unreached | None
    ) -> None:
        self.base_url = base_url
        self.alert_lines = alert_lines
        self.unreached = unreached

    def warn(self, session: Session, subject: Incident, clock: Clock, at: datetime) -> None:
        """Escalation steps are not warned about (the kind declares warns=False)."""

    def due(self, session: Session, subject: Incident, clock: Clock, at: datetime) -> None:
        # The pages are queued in this same transaction: fired and paged, or neither.
        settle(session, incident=subject, clock=clock, state="fired", at=at, actor=ENGINE_ACTOR)
        paged = paging.page(
            session,
            incident=subject,
            clock=clock,
            at=at,
            base_url=self.base_url,
            alert_lines=self.alert_lines,
        )
        if not paged.reached:
            clock.state = "failed"
            if self.unreached is not None:
                self.unreached(session, subject, clock, paged.problems)


def register(
    registry: ClockRegistry,
    *,
    base_url: str,
    alert_lines: paging.AlertLines,
    unreached: Unreached | None = None,
) -> None:
    registry.handle([ESCALATION], FireEscalationStep(base_url, alert_lines, unreached))
