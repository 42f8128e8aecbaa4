"""The evidence locker: what is attached to an incident, its chain of custody, its retention
and the legal holds that stop its deletion. The only code that writes these tables.

Every step is an event on the incident's hash chain, carrying the evidence's SHA-256:
- `evidence_added`: kind, title, hash, size, who and when (the event's actor and time),
  retention class and the date it may be deleted;
- `evidence_viewed`, `evidence_exported`, `evidence_handed_over` (to whom, why): custody;
- `legal_hold_placed`, `legal_hold_released`;
- `evidence_purged`: retention ran out and no hold was in place; the bytes are deleted once
  the event commits (and only if no other item still names the same bytes).
So the chain, signed by checkpoints, is the custody record; the rows are the index to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.evidence.models import EvidenceItem, LegalHold
from tocsin.evidence.storage import Stored, sha256_text
from tocsin.incidents import service as incident_service
from tocsin.incidents import timeline
from tocsin.incidents.chain import format_instant
from tocsin.incidents.models import Incident, TimelineEvent
from tocsin.timesource import now

KINDS = ("file", "log_export", "snapshot", "link")
STORED_KINDS = KINDS[:3]
CUSTODY = {
    "viewed": "evidence_viewed",
    "exported": "evidence_exported",
    "handed_over": "evidence_handed_over",
}
EVENT_KINDS = ("evidence_added", *CUSTODY.values(), "evidence_purged")
ENGINE_ACTOR = "tocsin"


@dataclass(frozen=True)
class Attachment:
    """What a person says about a piece of evidence when they add it."""

    kind: str
    title: str
    note: str = ""
    retention_class: str | None = None
    filename: str | None = None
    media_type: str | None = None
    url: str | None = None


def _check_kind(kind: str, allowed: Sequence[str]) -> None:
    if kind not in allowed:
        raise InvalidInput(
            f"unknown evidence kind {kind!r}; allowed: {', '.join(allowed)}",
            field="kind",
            allowed=allowed,
        )


def _retention(
    session: Session, incident: Incident, class_id: str | None, at: datetime
) -> tuple[str | None, datetime | None]:
    """The retention class (given, else the policy's default) and when it runs out."""
    evidence = incident_service.policy_of(session, incident).policy.evidence
    chosen = class_id or evidence.default_class
    if chosen is None:
        return None, None
    found = evidence.retention_class(chosen)
    if found is None:
        allowed = [c.id for c in evidence.retention]
        raise InvalidInput(
            f"unknown retention class {chosen!r}; this policy's classes: "
            f"{', '.join(allowed) or 'none (evidence is kept until deleted by hand)'}",
            field="retention_class",
            allowed=allowed,
        )
    return found.id, at + found.keep.amount


def add(
    session: Session,
    *,
    incident_id: str,
    attachment: Attachment,
    stored: Stored | None,
    actor: str,
) -> EvidenceItem:
    """Attach evidence: stored bytes (`stored`) for a file, log export or snapshot, or a URL
    for a link. 1. Check the kind and retention class. 2. Record the row. 3. Record
    `evidence_added` on the chain with the hash."""
    incident = incident_service.lock(session, incident_id)
    if attachment.kind == "link":
        stored = _link(attachment)
    else:
        _check_kind(attachment.kind, KINDS)
        if stored is None:
            raise InvalidInput(f"a {attachment.kind} needs a file", field="file")
    at = now()
    retention_class, retain_until = _retention(session, incident, attachment.retention_class, at)
    item = EvidenceItem(
        incident_id=incident.id,
        kind=attachment.kind,
        title=attachment.title,
        note=attachment.note,
        filename=attachment.filename if attachment.kind != "link" else None,
        media_type=attachment.media_type if attachment.kind != "link" else None,
        url=attachment.url if attachment.kind == "link" else None,
        sha256=stored.sha256,
        size=stored.size,
        retention_class=retention_class,
        retain_until=retain_until,
        added_by=actor,
        added_at=at,
    )
    session.add(item)
    session.flush()
    _event(session, incident, "evidence_added", actor, at, _added_data(item))
    return item


def _link(attachment: Attachment) -> Stored:
    url = (attachment.url or "").strip()
    if not url.startswith(("http://", "https://")) or len(url) > 4000:
        raise InvalidInput("a link needs an http(s) URL of at most 4000 characters", field="url")
    return Stored(sha256_text(url), len(url.encode()))


def _added_data(item: EvidenceItem) -> dict[str, Any]:
    data: dict[str, Any] = {
        "evidence_id": item.id,
        "kind": item.kind,
        "title": item.title,
        "sha256": item.sha256,
        "size": item.size,
        "retention_class": item.retention_class,
        "retain_until": format_instant(item.retain_until) if item.retain_until else None,
    }
    if item.url is not None:
        data["url"] = item.url
    if item.filename is not None:
        data.update(filename=item.filename, media_type=item.media_type)
    if item.note:
        data["note"] = item.note
    return data


def _event(
    session: Session,
    incident: Incident,
    kind: str,
    actor: str,
    at: datetime,
    data: dict[str, Any],
) -> TimelineEvent:
    return timeline.append(session, incident=incident, kind=kind, actor=actor, at=at, data=data)


def items(session: Session, incident_id: str) -> list[EvidenceItem]:
    incident_service.get(session, incident_id)
    query = select(EvidenceItem).where(EvidenceItem.incident_id == incident_id)
    return list(session.scalars(query.order_by(EvidenceItem.id)))


def item(session: Session, incident_id: str, evidence_id: int) -> EvidenceItem:
    found = session.get(EvidenceItem, evidence_id)
    if found is None or found.incident_id != incident_id:
        raise NotFound(f"no evidence #{evidence_id} on {incident_id}", field="evidence_id")
    return found


def record_custody(
    session: Session,
    *,
    incident_id: str,
    evidence_id: int,
    action: str,
    actor: str,
    to: str | None = None,
    reason: str = "",
) -> EvidenceItem:
    """One step in an item's chain of custody: viewed, exported or handed over (to whom)."""
    _check_kind(action, list(CUSTODY))
    incident = incident_service.lock(session, incident_id)
    found = item(session, incident_id, evidence_id)
    if found.purged_at is not None and action != "handed_over":
        raise Conflict(
            f"evidence #{evidence_id} was purged at {format_instant(found.purged_at)}",
            field="evidence_id",
        )
    if action == "handed_over" and not (to or "").strip():
        raise InvalidInput("a hand-over names who received the evidence", field="to")
    data: dict[str, Any] = {"evidence_id": found.id, "sha256": found.sha256}
    if to:
        data["to"] = to
    if reason:
        data["reason"] = reason
    _event(session, incident, CUSTODY[action], actor, now(), data)
    return found


def custody(session: Session, incident_id: str, evidence_id: int) -> list[TimelineEvent]:
    """Every chain event about one item, oldest first: its addition, custody and purge."""
    return [
        e
        for e in timeline.events(session, incident_id)
        if e.kind in EVENT_KINDS and e.data.get("evidence_id") == evidence_id
    ]


# -- legal holds ---------------------------------------------------------------------------------


def active_hold(session: Session, incident_id: str) -> LegalHold | None:
    query = select(LegalHold).where(
        LegalHold.incident_id == incident_id, LegalHold.released_at.is_(None)
    )
    return session.scalar(query)


def place_hold(session: Session, *, incident_id: str, reason: str, actor: str) -> LegalHold:
    incident = incident_service.lock(session, incident_id)
    if not reason.strip():
        raise InvalidInput("a legal hold needs a reason (the matter, who asked)", field="reason")
    held = active_hold(session, incident_id)
    if held is not None:
        raise Conflict(
            f"{incident_id} is already on legal hold since {format_instant(held.placed_at)} "
            f"({held.reason})",
            field="hold",
        )
    at = now()
    hold = LegalHold(incident_id=incident.id, reason=reason, placed_by=actor, placed_at=at)
    session.add(hold)
    session.flush()
    _event(session, incident, "legal_hold_placed", actor, at, {"reason": reason})
    return hold


def release_hold(session: Session, *, incident_id: str, reason: str, actor: str) -> LegalHold:
    incident = incident_service.lock(session, incident_id)
    held = active_hold(session, incident_id)
    if held is None:
        raise Conflict(f"{incident_id} is not on legal hold", field="hold")
    at = now()
    held.released_at, held.released_by = at, actor
    _event(session, incident, "legal_hold_released", actor, at, {"reason": reason})
    return held


# -- retention -----------------------------------------------------------------------------------


def due_for_purge(session: Session, at: datetime, *, limit: int = 100) -> list[EvidenceItem]:
    """Items past their retention whose incident holds no legal hold."""
    held = select(LegalHold.incident_id).where(LegalHold.released_at.is_(None))
    query = (
        select(EvidenceItem)
        .where(
            EvidenceItem.purged_at.is_(None),
            EvidenceItem.retain_until <= at,
            EvidenceItem.incident_id.not_in(held),
        )
        .order_by(EvidenceItem.retain_until, EvidenceItem.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def next_purge_at(session: Session) -> datetime | None:
    """When the next item not under a legal hold runs out (a hold's release wakes nothing:
    the engine looks again within its interval)."""
    held = select(LegalHold.incident_id).where(LegalHold.released_at.is_(None))
    query = select(func.min(EvidenceItem.retain_until)).where(
        EvidenceItem.purged_at.is_(None), EvidenceItem.incident_id.not_in(held)
    )
    found: datetime | None = session.scalar(query)
    return found


def purge(session: Session, *, evidence_id: int, at: datetime) -> str | None:
    """Record the purge of one item on its chain. Returns the digest whose bytes may now be
    deleted (after commit), or None: nothing stored, the bytes are still named by another
    item, or the item is no longer due (a hold was placed meanwhile)."""
    found = session.get(EvidenceItem, evidence_id)
    if found is None:
        return None
    incident = incident_service.lock(session, found.incident_id)
    session.refresh(found)
    due = found.retain_until is not None and found.retain_until <= at
    if found.purged_at is not None or not due or active_hold(session, incident.id) is not None:
        return None
    found.purged_at = at
    _event(session, incident, "evidence_purged", ENGINE_ACTOR, at, _purged_data(found))
    session.flush()
    return found.sha256 if _unreferenced(session, found) else None


def _purged_data(found: EvidenceItem) -> dict[str, Any]:
    assert found.retain_until is not None
    return {
        "evidence_id": found.id,
        "sha256": found.sha256,
        "retention_class": found.retention_class,
        "retain_until": format_instant(found.retain_until),
    }


def _unreferenced(session: Session, found: EvidenceItem) -> bool:
    if found.kind not in STORED_KINDS:
        return False
    query = select(func.count()).where(
        EvidenceItem.sha256 == found.sha256,
        EvidenceItem.purged_at.is_(None),
        EvidenceItem.kind.in_(STORED_KINDS),
    )
    return not session.scalar(query)
