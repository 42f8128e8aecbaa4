"""The runbook's checklist on an incident: each phase's items, ticked by whoever did them.

The policy's phases (`Phase`, with its `checklist` and its `steps`, each with their own
checklist) are the items. A tick is a timeline event (`checklist_ticked`, or
`checklist_unticked` to take one back), so who did what and when is in the hash-chained record
and nothing else stores it. The current phase is the first with an item not yet ticked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.errors import InvalidInput
from tocsin.incidents import service, timeline
from tocsin.incidents.models import TimelineEvent
from tocsin.policy.schema import Phase, Policy
from tocsin.timesource import now

TICKED, UNTICKED = "checklist_ticked", "checklist_unticked"


@dataclass(frozen=True)
class Item:
    key: str  # "<phase id>/<n>": stable while the policy's phase keeps its items
    text: str
    step: str | None  # the step it belongs to, if the phase has steps
    done_by: str | None = None
    done_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.done_by is not None


@dataclass(frozen=True)
class PhaseList:
    phase: Phase
    position: int  # 1-based, of `of`
    of: int
    items: list[Item]

    @property
    def done(self) -> int:
        return sum(1 for item in self.items if item.done)


def _texts(phase: Phase) -> Iterable[tuple[str, str | None]]:
    yield from ((text, None) for text in phase.checklist)
    for step in phase.steps:
        # A step without a checklist of its own is itself the thing to do.
        yield from ((text, step.name) for text in step.checklist or [step.name])


def items_of(phase: Phase) -> list[Item]:
    return [
        Item(key=f"{phase.id}/{n}", text=text, step=step)
        for n, (text, step) in enumerate(_texts(phase), start=1)
    ]


def ticks(session: Session, incident_id: str) -> dict[str, TimelineEvent]:
    """Each ticked item's key → the event that ticked it (an untick takes it back)."""
    events = session.scalars(
        select(TimelineEvent)
        .where(TimelineEvent.incident_id == incident_id, TimelineEvent.kind.in_((TICKED, UNTICKED)))
        .order_by(TimelineEvent.seq)
    )
    found: dict[str, TimelineEvent] = {}
    for event in events:
        key = str(event.data.get("item"))
        if event.kind == TICKED:
            found[key] = event
        else:
            found.pop(key, None)
    return found


def _with_ticks(items: list[Item], done: dict[str, TimelineEvent]) -> list[Item]:
    return [
        Item(i.key, i.text, i.step, done[i.key].actor, done[i.key].at) if i.key in done else i
        for i in items
    ]


def phases(session: Session, incident_id: str, policy: Policy) -> list[PhaseList]:
    done = ticks(session, incident_id)
    count = len(policy.phases)
    return [
        PhaseList(phase, n, count, _with_ticks(items_of(phase), done))
        for n, phase in enumerate(policy.phases, start=1)
    ]


def current(lists: list[PhaseList], chosen: str | None = None) -> PhaseList | None:
    """The phase asked for, else the first with something left to do, else the last."""
    if chosen:
        picked = next((p for p in lists if p.phase.id == chosen), None)
        if picked is not None:
            return picked
    return next((p for p in lists if p.done < len(p.items)), lists[-1] if lists else None)


def _item(policy: Policy, key: str) -> tuple[Phase, Item]:
    for phase in policy.phases:
        for item in items_of(phase):
            if item.key == key:
                return phase, item
    raise InvalidInput(f"no checklist item {key!r} in policy {policy.name}", field="item")


def tick(session: Session, *, incident_id: str, key: str, done: bool, actor: str) -> Item:
    """Tick (or untick) one item, on the timeline; ticking a ticked item records nothing."""
    incident = service.lock(session, incident_id)
    phase, item = _item(service.policy_of(session, incident).policy, key)
    if (key in ticks(session, incident_id)) == done:
        return item
    timeline.append(
        session,
        incident=incident,
        kind=TICKED if done else UNTICKED,
        actor=actor,
        at=now(),
        data={"item": key, "phase": phase.name, "text": item.text},
    )
    return item
