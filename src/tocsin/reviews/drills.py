"""The drill programme as clocks, and the drills that were held.

Each entry of the policy's `drills` is one clock (kind `drill`, subject `drill`, subject id
the entry's id), due on the entry's cadence counted from the end of the last drill held for
it, or from when the programme was first loaded. It warns before (a fifth of the span, at
most a week) and is breached when overdue; who is told is the communications domain's
business, passed in as `DrillNotices` (tocsin.flows.drills). Ending a drill meets the clock
and arms the next one; an overdue (breached) entry stays overdue until a drill is held.

The runbook's own review date is a clock too (kind `runbook_review`, subject `runbook`,
subject id the policy's name): due on `document.next_review`, else one `review_schedule`
from the first load; recording a review meets it and arms the next from the schedule.

`sync` is what a loaded policy does to these clocks (at `tocsin serve` and `tocsin engine`
start): idempotent, it arms what is missing, re-plans an entry whose cadence changed and
cancels the clocks of entries the policy no longer has.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.incidents import clocks as clock_service
from tocsin.incidents.clock_registry import ClockRegistry, LockSubject
from tocsin.incidents.models import Clock
from tocsin.policy.cadence import next_due, parse_schedule
from tocsin.policy.clock_kinds import DRILL, RUNBOOK_REVIEW
from tocsin.policy.schema import Drill as ProgrammeEntry
from tocsin.policy.schema import Policy
from tocsin.reviews.drill_models import Drill, RunbookReview
from tocsin.timesource import as_utc, now

DRILL_SUBJECT = DRILL.subject
RUNBOOK_SUBJECT = RUNBOOK_REVIEW.subject
OUTCOMES = ("passed", "partial", "failed")
WARN_SHARE = 0.2
WARN_MAX = timedelta(days=7)


class DrillNotices(Protocol):
    """Tells people that a drill (or the runbook's review) is due soon ("reminder") or
    overdue ("breach"); implemented by tocsin.flows.drills over the outbox."""

    def tell(self, session: Session, clock: Clock, kind: str) -> None: ...


@dataclass(frozen=True)
class Subject:
    """A drill programme entry or a runbook, as a clock subject (it has no row of its own:
    its pending clock row is what is locked)."""

    type: str
    id: str


# -- clocks -----------------------------------------------------------------------------------


def clock_key(entry_id: str) -> str:
    return f"{DRILL.key}:{entry_id}"


def _lead(span: timedelta) -> timedelta | None:
    if span <= timedelta(0):
        return None
    return min(span * WARN_SHARE, WARN_MAX)


def _arm(
    session: Session,
    *,
    subject_type: str,
    subject_id: str,
    kind: str,
    key: str,
    label: str,
    starts_at: datetime,
    due_at: datetime,
    at: datetime,
) -> Clock:
    lead = _lead(due_at - starts_at)
    warn_at = due_at - lead if lead is not None and due_at - lead > at else None
    return clock_service.start_for_subject(
        session,
        subject_type=subject_type,
        subject_id=subject_id,
        incident_id=None,
        kind=kind,
        key=key,
        action="notify",
        label=label,
        stop_on=None,
        starts_at=starts_at,
        due_at=due_at,
        warn_at=warn_at,
    )


def _label(entry: ProgrammeEntry) -> str:
    what = entry.kind.replace("_", " ")
    severity = f" {entry.severity}" if entry.severity else ""
    return f"{entry.cadence.capitalize()}{severity} {what}: {entry.scope or entry.id}"[:300]


def clocks_of(session: Session, subject_type: str, subject_id: str) -> list[Clock]:
    query = select(Clock).where(Clock.subject_type == subject_type, Clock.subject_id == subject_id)
    return list(session.scalars(query.order_by(Clock.id)))


def _latest(session: Session, subject_type: str, subject_id: str) -> Clock | None:
    found = clocks_of(session, subject_type, subject_id)
    return found[-1] if found else None


def last_held(session: Session, entry_id: str) -> Drill | None:
    query = (
        select(Drill)
        .where(Drill.programme_id == entry_id, Drill.ended_at.is_not(None))
        .order_by(Drill.ended_at.desc(), Drill.id.desc())
    )
    return session.scalars(query).first()


def sync(session: Session, policy: Policy, at: datetime | None = None) -> list[Clock]:
    """Arm, re-plan or cancel the programme's clocks to match `policy`; returns the clocks
    it armed. Running it again changes nothing."""
    at = at or now()
    armed: list[Clock] = []
    wanted = {entry.id for entry in policy.drills}
    for entry in policy.drills:
        armed += _sync_entry(session, entry, at)
    stale = select(Clock).where(Clock.subject_type == DRILL_SUBJECT, Clock.state == "pending")
    for clock in session.scalars(stale):
        if clock.subject_id not in wanted:
            clock.state, clock.settled_at = "cancelled", at
            clock.note = "no longer in the policy's drill programme"
    runbook = _sync_runbook(session, policy, at)
    return armed + ([runbook] if runbook else [])


def _sync_entry(session: Session, entry: ProgrammeEntry, at: datetime) -> list[Clock]:
    latest = _latest(session, DRILL_SUBJECT, entry.id)
    if latest is not None and latest.state == "breached":
        return []  # overdue until a drill is held
    if latest is not None and latest.state == "pending":
        due = next_due(as_utc(latest.starts_at), entry.cadence)
        if due == as_utc(latest.due_at) and latest.label == _label(entry):
            return []
        latest.state, latest.settled_at = "cancelled", at
        latest.note = f"re-planned: the programme now says {entry.cadence}"
        session.flush()
        return [_arm_entry(session, entry, as_utc(latest.starts_at), at)]
    held = last_held(session, entry.id)
    since = as_utc(held.ended_at) if held is not None and held.ended_at is not None else at
    return [_arm_entry(session, entry, since, at)]


def _arm_entry(session: Session, entry: ProgrammeEntry, since: datetime, at: datetime) -> Clock:
    return _arm(
        session,
        subject_type=DRILL_SUBJECT,
        subject_id=entry.id,
        kind=DRILL.key,
        key=clock_key(entry.id),
        label=_label(entry),
        starts_at=since,
        due_at=next_due(since, entry.cadence),
        at=at,
    )


def _review_day(policy: Policy, day: datetime | None) -> datetime | None:
    review = policy.document.next_review
    if review is None:
        return day
    start = datetime.combine(review, time(9, 0), tzinfo=ZoneInfo(policy.timezone))
    return start.astimezone(UTC)


def _runbook_label(policy: Policy) -> str:
    owner = f" (owner: {policy.document.owner})" if policy.document.owner else ""
    return f"Review the runbook {policy.title}{owner}"[:300]


def _sync_runbook(session: Session, policy: Policy, at: datetime) -> Clock | None:
    """Arm the runbook's first review clock; later ones are armed by recording a review."""
    if _latest(session, RUNBOOK_SUBJECT, policy.name) is not None:
        return None
    cadence = parse_schedule(policy.document.review_schedule)
    due = _review_day(policy, next_due(at, cadence) if cadence else None)
    if due is None:
        return None
    return _arm(
        session,
        subject_type=RUNBOOK_SUBJECT,
        subject_id=policy.name,
        kind=RUNBOOK_REVIEW.key,
        key=RUNBOOK_REVIEW.key,
        label=_runbook_label(policy),
        starts_at=min(at, due),
        due_at=due,
        at=at,
    )


def _pending(session: Session, subject_type: str, subject_id: str) -> Clock | None:
    query = select(Clock).where(
        Clock.subject_type == subject_type,
        Clock.subject_id == subject_id,
        Clock.state == "pending",
    )
    return session.scalars(query.with_for_update()).first()


def _meet(clock: Clock | None, at: datetime, note: str) -> None:
    if clock is not None:
        clock.state, clock.settled_at, clock.note = "met", at, note[:2000] or None


def runbook_reviewed(
    session: Session, *, policy: Policy, actor: str, note: str = ""
) -> Clock | None:
    """Record that the runbook was reviewed: meet its clock and arm the next from the
    review schedule (none if the runbook sets no schedule Tocsin can read)."""
    at = now()
    session.add(
        RunbookReview(policy_name=policy.name, reviewed_at=at, reviewed_by=actor, note=note)
    )
    _meet(_pending(session, RUNBOOK_SUBJECT, policy.name), at, f"reviewed by {actor}. {note}")
    cadence = parse_schedule(policy.document.review_schedule)
    session.flush()
    if cadence is None:
        return None
    return _arm(
        session,
        subject_type=RUNBOOK_SUBJECT,
        subject_id=policy.name,
        kind=RUNBOOK_REVIEW.key,
        key=RUNBOOK_REVIEW.key,
        label=_runbook_label(policy),
        starts_at=at,
        due_at=next_due(at, cadence),
        at=at,
    )


# -- drills held ------------------------------------------------------------------------------


def entry_of(policy: Policy, entry_id: str, field: str = "drill") -> ProgrammeEntry:
    entry = policy.drill(entry_id)
    if entry is None:
        allowed = [d.id for d in policy.drills]
        raise InvalidInput(
            f"unknown drill {entry_id!r}; the policy's drill programme: "
            f"{', '.join(allowed) or 'none (add `drills` to the policy)'}",
            field=field,
            allowed=allowed,
        )
    return entry


def choose_entry(
    session: Session, policy: Policy, scenario: str, drill: str | None
) -> ProgrammeEntry:
    """The programme entry a drill counts for: `drill` if given; the scenario itself if it
    is an entry's id; otherwise the entry due first (an overdue one before any other)."""
    if drill is not None:
        return entry_of(policy, drill)
    named = policy.drill(scenario)
    if named is not None:
        return named
    if not policy.drills:
        raise InvalidInput(
            "the policy has no drill programme: add `drills` to it", field="scenario", allowed=[]
        )
    return min(policy.drills, key=lambda entry: _next_due_of(session, entry))


def _next_due_of(session: Session, entry: ProgrammeEntry) -> datetime:
    clock = _latest(session, DRILL_SUBJECT, entry.id)
    if clock is None or clock.state not in ("pending", "breached"):
        return datetime.max.replace(tzinfo=UTC)
    return as_utc(clock.due_at)


def drill_severity(policy: Policy, entry: ProgrammeEntry) -> str:
    """The programme entry's severity, else the least severe level of the policy."""
    return entry.severity or policy.severity_ids()[-1]


def record_start(
    session: Session,
    *,
    entry: ProgrammeEntry,
    incident_id: str,
    title: str,
    severity: str,
    audience: str | None,
    actor: str,
    at: datetime,
) -> Drill:
    row = Drill(
        programme_id=entry.id,
        kind=entry.kind,
        title=title,
        severity=severity,
        audience=audience,
        incident_id=incident_id,
        started_at=at,
        started_by=actor,
        lessons="",
    )
    session.add(row)
    session.flush()
    return row


def get(session: Session, drill_id: int, *, lock: bool = False) -> Drill:
    query = select(Drill).where(Drill.id == drill_id)
    row = session.scalars(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(f"no drill {drill_id}", field="id")
    return row


def record_end(
    session: Session,
    *,
    row: Drill,
    policy: Policy,
    outcome: str,
    lessons: str,
    actor: str,
    at: datetime,
) -> Clock | None:
    """Record the outcome and lessons; meet the entry's clock (or close its overdue gap)
    and arm the next one, counted from now. Returns the next clock (None if the entry is no
    longer in the programme)."""
    if outcome not in OUTCOMES:
        raise InvalidInput(
            f"unknown outcome {outcome!r}; allowed: {', '.join(OUTCOMES)}",
            field="outcome",
            allowed=OUTCOMES,
        )
    if row.ended_at is not None:
        raise Conflict(f"drill {row.id} already ended ({row.outcome})", field="id")
    row.ended_at, row.ended_by, row.outcome, row.lessons = at, actor, outcome, lessons
    _meet(_pending(session, DRILL_SUBJECT, row.programme_id), at, f"drill {row.id}: {outcome}")
    session.flush()
    entry = policy.drill(row.programme_id)
    return _arm_entry(session, entry, at, at) if entry is not None else None


def held(session: Session, limit: int = 200) -> list[Drill]:
    query = select(Drill).order_by(Drill.started_at.desc(), Drill.id.desc()).limit(limit)
    return list(session.scalars(query))


def by_incident(session: Session, incident_id: str) -> Drill | None:
    return session.scalars(select(Drill).where(Drill.incident_id == incident_id)).first()


# -- what is due ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """One programme entry (or the runbook's review) and where its clock stands."""

    id: str
    what: str
    kind: str
    cadence: str | None
    severity: str | None
    audience: str | None
    owner: str | None  # who runs it, and is reminded first
    state: str  # scheduled, due_soon, overdue, or unscheduled
    due_at: datetime | None
    last_held_at: datetime | None
    last_outcome: str | None
    running: int | None  # the id of a drill in progress


def _state(clock: Clock | None, at: datetime) -> str:
    if clock is None or clock.state not in ("pending", "breached"):
        return "unscheduled"
    if clock.state == "breached" or as_utc(clock.due_at) <= at:
        return "overdue"
    if clock.warn_at is not None and as_utc(clock.warn_at) <= at:
        return "due_soon"
    return "scheduled"


def programme(session: Session, policy: Policy, at: datetime | None = None) -> list[Due]:
    """Each programme entry with its due date and state, then the runbook's review."""
    at = at or now()
    rows: list[Due] = []
    for entry in policy.drills:
        clock = _latest(session, DRILL_SUBJECT, entry.id)
        last = last_held(session, entry.id)
        running = session.scalars(
            select(Drill.id).where(Drill.programme_id == entry.id, Drill.ended_at.is_(None))
        ).first()
        rows.append(
            Due(
                id=entry.id,
                what=entry.scope or entry.id,
                kind=entry.kind,
                cadence=entry.cadence,
                severity=entry.severity,
                audience=policy.drill_audience_for(entry),
                owner=entry.owner,
                state=_state(clock, at),
                due_at=as_utc(clock.due_at) if clock and clock.state != "met" else None,
                last_held_at=as_utc(last.ended_at) if last and last.ended_at else None,
                last_outcome=last.outcome if last else None,
                running=running,
            )
        )
    clock = _latest(session, RUNBOOK_SUBJECT, policy.name)
    reviewed = session.scalars(
        select(RunbookReview.reviewed_at)
        .where(RunbookReview.policy_name == policy.name)
        .order_by(RunbookReview.reviewed_at.desc())
    ).first()
    if clock is not None or policy.document.review_schedule or policy.document.next_review:
        rows.append(
            Due(
                id=RUNBOOK_REVIEW.key,
                what=_runbook_label(policy),
                kind="runbook_review",
                cadence=parse_schedule(policy.document.review_schedule),
                severity=None,
                audience=policy.document.owner,
                owner=policy.document.owner,
                state=_state(clock, at),
                due_at=as_utc(clock.due_at) if clock and clock.state != "met" else None,
                last_held_at=as_utc(reviewed) if reviewed is not None else None,
                last_outcome=None,
                running=None,
            )
        )
    return rows


# -- the engine's handler ---------------------------------------------------------------------


def lock_subject(subject_type: str) -> LockSubject:
    def lock(session: Session, subject_id: str) -> Subject | None:
        query = (
            select(Clock.id)
            .where(
                Clock.subject_type == subject_type,
                Clock.subject_id == subject_id,
                Clock.state == "pending",
            )
            .with_for_update(skip_locked=True)
        )
        return Subject(subject_type, subject_id) if session.scalars(query).first() else None

    return lock


class RemindDue:
    """Warn before a drill (or the runbook's review) is due; at the due time, breach it and
    tell people it is overdue."""

    def __init__(self, notices: DrillNotices | None) -> None:
        self.notices = notices

    def warn(self, session: Session, subject: Subject, clock: Clock, at: datetime) -> None:
        clock.warned_at = at
        clock.next_check_at = clock.due_at
        if self.notices is not None:
            self.notices.tell(session, clock, "reminder")

    def due(self, session: Session, subject: Subject, clock: Clock, at: datetime) -> None:
        clock.state, clock.settled_at = "breached", clock.due_at
        if self.notices is not None:
            self.notices.tell(session, clock, "breach")


def register(registry: ClockRegistry, *, notices: DrillNotices | None) -> None:
    registry.subject(DRILL_SUBJECT, lock_subject(DRILL_SUBJECT))
    registry.subject(RUNBOOK_SUBJECT, lock_subject(RUNBOOK_SUBJECT))
    registry.handle([DRILL, RUNBOOK_REVIEW], RemindDue(notices))
