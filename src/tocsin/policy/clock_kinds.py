"""Clock kinds: every kind of deadline Tocsin keeps, each declared once.

A declaration says what a kind is about (its subject), which domain acts on it, what
happens at its due time (a deadline is breached; an escalation step fires), whether it is
warned about beforehand, and how an incident's life treats it. Code that plans, settles,
shows or acts on clocks asks the declaration; nothing else spells a kind's rules.

Behaviour lives with the owning domain: it registers a handler for the kind with the clock
registry (tocsin.incidents.clock_registry), and the engine runs whatever the registry names.
Adding a kind is one declaration (here, or `declare()` from the owning domain) and one
handler in that domain.

Pure: no database, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class OnSeverityChange(StrEnum):
    """What a severity change does to a pending clock of the kind."""

    TIGHTEN = "tighten"  # one per incident: the stricter of the old and the new target stands
    ADD = "add"  # what the old severity owed stays owed; the new severity's are added
    KEEP = "keep"  # not a matter of severity (regulatory notices, reviews)


class OnDue(StrEnum):
    """What reaching the due time means."""

    BREACH = "breach"  # a deadline was missed: recorded as breached
    FIRE = "fire"  # a step is taken (an escalation step pages): recorded as fired


@dataclass(frozen=True)
class ClockKind:
    """One kind of clock.

    - key: the kind as stored ("acknowledge"); a family such as "regulatory" covers every
      "regulatory:<regime>" kind.
    - subject: what a clock of this kind is about ("incident", "review", ...).
    - domain: the package whose handler acts on it.
    - noun: what a person calls it, for lists and messages.
    - warns: whether people are warned before it is due.
    - on_severity_change: see OnSeverityChange.
    - ends_with_incident: it only matters while the incident is live (cancelled on resolve;
      a communication stage the policy marks `owed_after_resolution` is kept).
    - completable: a person settles it by saying it is done (`tocsin incident complete`);
      the others are settled by their own event (acknowledge, publish an update, resolve)
      or fire on their own.
    """

    key: str
    subject: str
    domain: str
    noun: str
    on_due: OnDue = OnDue.BREACH
    warns: bool = True
    on_severity_change: OnSeverityChange = OnSeverityChange.KEEP
    ends_with_incident: bool = False
    completable: bool = False
    family: bool = False  # key is a prefix: "regulatory" covers "regulatory:gdpr"

    def covers(self, kind: str) -> bool:
        return kind == self.key or (self.family and kind.startswith(f"{self.key}:"))


ACKNOWLEDGE = ClockKind(
    "acknowledge",
    subject="incident",
    domain="incidents",
    noun="acknowledgement",
    on_severity_change=OnSeverityChange.TIGHTEN,
    ends_with_incident=True,
)
UPDATE = ClockKind(
    "update",
    subject="incident",
    domain="incidents",
    noun="stakeholder update",
    on_severity_change=OnSeverityChange.TIGHTEN,
    ends_with_incident=True,
)
RESOLVE = ClockKind(
    "resolve",
    subject="incident",
    domain="incidents",
    noun="resolution target",
    on_severity_change=OnSeverityChange.TIGHTEN,
)
ESCALATION = ClockKind(
    "escalation",
    subject="incident",
    domain="oncall",
    noun="escalation step",
    on_due=OnDue.FIRE,
    warns=False,  # a step fires rather than falls due: nothing to warn about
    on_severity_change=OnSeverityChange.ADD,
    ends_with_incident=True,
)
COMMS = ClockKind(
    "comms",
    subject="incident",
    domain="comms",
    noun="communication stage",
    on_severity_change=OnSeverityChange.ADD,
    ends_with_incident=True,
    completable=True,
)
COMMS_OPEN = ClockKind(
    "comms_open",
    subject="incident",
    domain="comms",
    noun="communication stage opening",
    on_due=OnDue.FIRE,
    warns=False,  # it is the moment to act itself
    on_severity_change=OnSeverityChange.ADD,
    ends_with_incident=True,
)
WAR_ROOM = ClockKind(
    "war_room",
    subject="incident",
    domain="comms",
    noun="war room",
    on_due=OnDue.FIRE,
    warns=False,
    ends_with_incident=True,
)
ALERTS_JOINED = ClockKind(
    "alerts_joined",
    subject="incident",
    domain="comms",
    noun="notice of alerts that joined",
    on_due=OnDue.FIRE,
    warns=False,  # it is the moment to tell
    ends_with_incident=True,
)
# A review's and an action item's clocks belong to the review (tocsin.reviews): one clock per
# review, met when it is reviewed; one per action item, met when it is done.
REVIEW = ClockKind(
    "review", subject="review", domain="reviews", noun="post-incident review", completable=True
)
ACTION_ITEM = ClockKind("action_item", subject="action_item", domain="reviews", noun="action item")
REGULATORY = ClockKind(
    "regulatory",
    subject="incident",
    domain="incidents",
    noun="regulatory notice",
    completable=True,
    family=True,
)

# Containment switches (tocsin.evidence.switches): while one is on, its limit; once released,
# the watch over the incident's services. Both outlive the incident's resolution.
SWITCH_LIMIT = ClockKind(
    "switch_limit",
    subject="incident",
    domain="evidence",
    noun="containment switch limit",
)
SWITCH_WATCH = ClockKind(
    "switch_watch",
    subject="incident",
    domain="evidence",
    noun="watch after a containment switch is released",
    warns=False,  # nothing to do before it ends: it is met by nothing happening
)

_DECLARED: list[ClockKind] = [
    ACKNOWLEDGE,
    UPDATE,
    RESOLVE,
    ESCALATION,
    COMMS,
    COMMS_OPEN,
    WAR_ROOM,
    ALERTS_JOINED,
    REVIEW,
    ACTION_ITEM,
    REGULATORY,
    SWITCH_LIMIT,
    SWITCH_WATCH,
]


class UnknownClockKind(LookupError):
    def __init__(self, kind: str) -> None:
        allowed = ", ".join(k.key for k in _DECLARED)
        super().__init__(f"unknown clock kind {kind!r}; declared kinds: {allowed}")
        self.kind = kind


def declare(kind: ClockKind) -> ClockKind:
    """Add a kind (from the domain that owns it); declaring the same key twice is a bug."""
    if any(existing.key == kind.key for existing in _DECLARED):
        raise ValueError(f"clock kind {kind.key!r} is already declared")
    _DECLARED.append(kind)
    return kind


def kind_of(kind: str) -> ClockKind:
    """The declaration that covers a stored kind ("regulatory:gdpr" -> REGULATORY)."""
    for declared in _DECLARED:
        if declared.covers(kind):
            return declared
    raise UnknownClockKind(kind)


def fires(kind: str) -> bool:
    """Does a clock of this kind fire at its due time (a step taken) rather than fall due
    (a duty that can be missed)? Firing clocks are never "overdue"."""
    return kind_of(kind).on_due is OnDue.FIRE


def declared() -> tuple[ClockKind, ...]:
    return tuple(_DECLARED)


def regulatory_kind(regime_id: str) -> str:
    return f"{REGULATORY.key}:{regime_id}"
