"""The `Directory` on-call implements for the communications domain: how to reach the
people, teams and schedules of the on-call file. Recipients and reaches are the outbox's
(tocsin.notify.recipients), so on-call can answer without knowing this domain."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from tocsin.incidents.models import Incident
from tocsin.notify.recipients import Reach, Recipient

__all__ = ["Directory", "Reach", "Recipient"]


class Directory(Protocol):
    """How to reach the people of the on-call file (implemented by tocsin.oncall.directory)."""

    def person(self, session: Session, handle: str) -> Reach:
        """The person's first notification rule's contact method."""
        ...

    def team(self, session: Session, handle: str) -> Reach: ...

    def schedule(self, session: Session, handle: str, at: datetime) -> Reach:
        """Whoever is on call on the schedule at `at`."""
        ...

    def on_call(self, session: Session, incident: Incident, at: datetime) -> Reach:
        """The first step of the incident's escalation policy: who a page would wake."""
        ...

    def slack_user(self, session: Session, handle: str) -> str | None:
        """The person's Slack user id (a `slack` contact method), to invite them to a room."""
        ...
