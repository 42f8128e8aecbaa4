"""The evidence domain's clock handlers: a containment switch's limit and its watch.

- `switch_limit` is a deadline like any other: the commander is reminded before it and told
  when it passes with the switch still on (the incidents domain's RecordOnTimeline does both).
- `switch_watch` is met only by nothing happening: at its end it is met if no new alert came
  from the incident's services since the release, else breached, and the commander told.
  Which alerts count is the alerts domain's business: the engine passes `NewAlerts` in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.incidents import timeline
from tocsin.incidents.clock_registry import ClockNotices, ClockRegistry, RecordOnTimeline
from tocsin.incidents.clocks import ENGINE_ACTOR, settle
from tocsin.incidents.models import Clock, Incident
from tocsin.policy.clock_kinds import SWITCH_LIMIT, SWITCH_WATCH

# How many alerts on the incident (or its services) were seen since an instant.
NewAlerts = Callable[[Session, Incident, datetime], list[str]]


class WatchAfterRelease:
    def __init__(self, notices: ClockNotices | None, new_alerts: NewAlerts) -> None:
        self.notices = notices
        self.new_alerts = new_alerts

    def warn(self, session: Session, subject: Incident, clock: Clock, at: datetime) -> None:
        clock.next_check_at = clock.due_at  # a watch never warns; look again when it ends

    def due(self, session: Session, subject: Incident, clock: Clock, at: datetime) -> None:
        seen = self.new_alerts(session, subject, clock.starts_at)
        if not seen:
            settle(session, incident=subject, clock=clock, state="met", at=at, actor=ENGINE_ACTOR)
            return
        settle(session, incident=subject, clock=clock, state="breached", at=at, actor=ENGINE_ACTOR)
        timeline.append(
            session,
            incident=subject,
            kind="watch_alerted",
            actor=ENGINE_ACTOR,
            at=at,
            data={"key": clock.key, "alerts": seen[:20], "count": len(seen)},
        )
        if self.notices is not None:
            self.notices.tell(session, subject, clock, "watch_alerted")


def register(
    registry: ClockRegistry, *, notices: ClockNotices | None, new_alerts: NewAlerts
) -> None:
    registry.handle([SWITCH_LIMIT], RecordOnTimeline(notices))
    registry.handle([SWITCH_WATCH], WatchAfterRelease(notices, new_alerts))
