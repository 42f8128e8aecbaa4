"""Reviews and action items: the only code that writes their tables and their clocks.

Every change is an event on the incident's timeline, so the review's history is in the same
tamper-evident chain as the incident's. Callers hold the incident row locked (every writer
here locks it first, as requests and the engine's clock step do), and own the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.incidents import clocks as clock_service
from tocsin.incidents import service as incident_service
from tocsin.incidents import timeline
from tocsin.incidents.chain import format_instant
from tocsin.incidents.models import Clock, Incident
from tocsin.policy.clock_kinds import ACTION_ITEM, REVIEW
from tocsin.policy.deadlines import within
from tocsin.policy.durations import Duration
from tocsin.policy.schema import Policy
from tocsin.reviews import lifecycle
from tocsin.reviews.models import ActionItem, Review
from tocsin.timesource import now

REVIEW_SUBJECT = REVIEW.subject
ITEM_SUBJECT = ACTION_ITEM.subject
MAX_BODY = 500_000


@dataclass(frozen=True)
class Owed:
    """The review an incident owes: `full` (the policy's template) or `short` (a drill)."""

    kind: str
    window: Duration | None


def owed(policy: Policy, incident: Incident) -> Owed | None:
    """A drill always gets a short review; otherwise the severity's rule decides."""
    required, window = policy.review_rule(incident.severity)
    if incident.flags.get("drill"):
        return Owed("short", window or policy.post_incident.review_within)
    return Owed("full", window) if required else None


def owner_for(policy: Policy, incident: Incident) -> str | None:
    """The holder of the role the policy's `reminders.review` names, else the commander,
    else whoever acknowledged."""
    for role in policy.reminders.get(REVIEW.key, ()):
        if incident.roles.get(role):
            return incident.roles[role]
    return incident.roles.get("commander") or incident.acknowledged_by


# -- reading ----------------------------------------------------------------------------------


def for_incident(session: Session, incident_id: str) -> Review | None:
    return session.scalar(select(Review).where(Review.incident_id == incident_id))


def get_for_incident(session: Session, incident_id: str) -> Review:
    review = for_incident(session, incident_id)
    if review is None:
        incident_service.get(session, incident_id)  # 404 for an unknown incident
        raise NotFound(
            f"{incident_id} has no review (one opens when a severity that needs it resolves)",
            field="id",
        )
    return review


def list_reviews(
    session: Session, *, status: str | None = None, overdue: bool = False, at: datetime
) -> list[Review]:
    query = select(Review)
    if status is not None:
        if status not in lifecycle.REVIEW_STATUSES:
            allowed = lifecycle.REVIEW_STATUSES
            raise InvalidInput(
                f"unknown status {status!r}; allowed: {', '.join(allowed)}",
                field="status",
                allowed=allowed,
            )
        query = query.where(Review.status == status)
    if overdue:
        query = query.where(
            Review.due_at.is_not(None),
            Review.due_at < at,
            Review.status.in_(("draft", "in_review")),
        )
    return list(session.scalars(query.order_by(Review.due_at, Review.id)))


def is_overdue(review: Review, at: datetime) -> bool:
    return review.due_at is not None and review.due_at < at and review.status not in lifecycle.HELD


def items_of(session: Session, review_id: int) -> list[ActionItem]:
    query = select(ActionItem).where(ActionItem.review_id == review_id)
    return list(session.scalars(query.order_by(ActionItem.due_at, ActionItem.id)))


def list_items(
    session: Session,
    *,
    overdue: bool = False,
    status: str | None = None,
    incident_id: str | None = None,
    at: datetime,
) -> list[ActionItem]:
    query = select(ActionItem)
    if status is not None:
        if status not in lifecycle.ITEM_STATUSES:
            allowed = lifecycle.ITEM_STATUSES
            raise InvalidInput(
                f"unknown status {status!r}; allowed: {', '.join(allowed)}",
                field="status",
                allowed=allowed,
            )
        query = query.where(ActionItem.status == status)
    if incident_id is not None:
        query = query.where(ActionItem.incident_id == incident_id)
    if overdue:
        query = query.where(
            ActionItem.due_at < at, ActionItem.status.not_in(lifecycle.ITEM_FINISHED)
        )
    return list(session.scalars(query.order_by(ActionItem.due_at, ActionItem.id)))


def item_overdue(item: ActionItem, at: datetime) -> bool:
    return item.due_at < at and item.status not in lifecycle.ITEM_FINISHED


def get_item(session: Session, item_id: int) -> ActionItem:
    item = session.get(ActionItem, item_id)
    if item is None:
        raise NotFound(f"no action item {item_id}", field="id")
    return item


def clock_of(session: Session, subject_type: str, subject_id: int) -> Clock | None:
    """The subject's latest clock (pending, or how it ended)."""
    query = (
        select(Clock)
        .where(Clock.subject_type == subject_type, Clock.subject_id == str(subject_id))
        .order_by(Clock.id.desc())
        .limit(1)
    )
    return session.scalar(query)


def lock_review(session: Session, review_id: str) -> Review | None:
    """For the engine: the review, with its incident's row locked (the order requests take),
    or None if someone holds the incident."""
    review = session.get(Review, int(review_id))
    if review is None or clock_service_lock(session, review.incident_id) is None:
        return None
    return review


def lock_item(session: Session, item_id: str) -> ActionItem | None:
    item = session.get(ActionItem, int(item_id))
    if item is None or clock_service_lock(session, item.incident_id) is None:
        return None
    return item


def clock_service_lock(session: Session, incident_id: str) -> Incident | None:
    query = select(Incident).where(Incident.id == incident_id).with_for_update(skip_locked=True)
    return session.scalar(query)


# -- the review -------------------------------------------------------------------------------


def open_review(
    session: Session,
    *,
    incident: Incident,
    policy: Policy,
    body: str,
    at: datetime,
    actor: str,
) -> Review | None:
    """The incident resolved: open the review it owes (or, resolved again after a reopen,
    count its due date from this resolution). None if it owes none."""
    wanted = owed(policy, incident)
    if wanted is None:
        return None
    due = policy.calendar().add(at, wanted.window) if wanted.window is not None else None
    review = for_incident(session, incident.id)
    if review is None:
        review = _create(session, incident, policy, wanted.kind, body, due, at, actor)
    elif review.status not in lifecycle.HELD:
        review.due_at = due
    if review.status not in lifecycle.HELD and due is not None:
        _start_review_clock(session, incident, review, policy, wanted.window, at)
    return review


def _create(
    session: Session,
    incident: Incident,
    policy: Policy,
    kind: str,
    body: str,
    due: datetime | None,
    at: datetime,
    actor: str,
) -> Review:
    review = Review(
        incident_id=incident.id,
        kind=kind,
        status="draft",
        owner=owner_for(policy, incident),
        due_at=due,
        body=body,
        created_at=at,
        updated_at=at,
        updated_by=actor,
        version=1,
    )
    session.add(review)
    session.flush()
    timeline.append(
        session,
        incident=incident,
        kind="review_opened",
        actor=actor,
        at=at,
        data={
            "review_id": review.id,
            "kind": kind,
            "owner": review.owner,
            "due_at": format_instant(due) if due else None,
        },
    )
    return review


def _start_review_clock(
    session: Session,
    incident: Incident,
    review: Review,
    policy: Policy,
    window: Duration | None,
    at: datetime,
) -> None:
    assert review.due_at is not None
    what = "drill review" if review.kind == "short" else "post-incident review"
    label = f"Hold the {what} {within(window)} of resolution" if window else f"Hold the {what}"
    _cancel_pending(session, incident, REVIEW_SUBJECT, review.id, "review due date re-planned")
    _start_clock(
        session,
        REVIEW_SUBJECT,
        review.id,
        incident,
        REVIEW.key,
        label,
        "reviewed",
        review.due_at,
        at,
    )


def _start_clock(
    session: Session,
    subject_type: str,
    subject_id: int,
    incident: Incident,
    key: str,
    label: str,
    stop_on: str,
    due_at: datetime,
    at: datetime,
) -> Clock:
    lead = clock_service.warning_lead(due_at - at)
    warn_at = due_at - lead if lead else None
    return clock_service.start_for_subject(
        session,
        subject_type=subject_type,
        subject_id=str(subject_id),
        incident_id=incident.id,
        kind=key.partition(":")[0],
        key=key,
        action="remind",
        label=label,
        stop_on=stop_on,
        starts_at=at,
        due_at=due_at,
        warn_at=warn_at,
    )


def _pending_clock(session: Session, subject_type: str, subject_id: int) -> Clock | None:
    clock = clock_of(session, subject_type, subject_id)
    return clock if clock is not None and clock.state == "pending" else None


def _cancel_pending(
    session: Session, incident: Incident, subject_type: str, subject_id: int, reason: str
) -> None:
    clock = _pending_clock(session, subject_type, subject_id)
    if clock is not None:
        clock_service.cancel(
            session,
            incident=incident,
            clocks=[clock],
            reason=reason,
            actor=clock_service.ENGINE_ACTOR,
        )


def _settle_pending(
    session: Session,
    incident: Incident,
    subject_type: str,
    subject_id: int,
    at: datetime,
    actor: str,
) -> None:
    """The duty was done: met if in time, breached if late (the engine may not have looked)."""
    clock = _pending_clock(session, subject_type, subject_id)
    if clock is not None:
        state = "met" if at <= clock.due_at else "breached"
        clock_service.settle(
            session, incident=incident, clock=clock, state=state, at=at, actor=actor
        )


def pause_for_reopen(session: Session, *, incident: Incident) -> None:
    """The incident reopened: its review waits for the next resolution (no due date until
    then, so it is not listed overdue meanwhile)."""
    review = for_incident(session, incident.id)
    if review is not None and review.status not in lifecycle.HELD:
        review.due_at = None
        _cancel_pending(session, incident, REVIEW_SUBJECT, review.id, "incident reopened")


def replan(session: Session, *, incident: Incident, policy: Policy) -> None:
    """The severity changed after resolution: the review's due date follows the new rule."""
    review = for_incident(session, incident.id)
    wanted = owed(policy, incident)
    if review is None or review.status in lifecycle.HELD or incident.resolved_at is None:
        return
    if wanted is None or wanted.window is None:
        _cancel_pending(
            session, incident, REVIEW_SUBJECT, review.id, f"severity changed to {incident.severity}"
        )
        return
    review.due_at = policy.calendar().add(incident.resolved_at, wanted.window)
    _start_review_clock(session, incident, review, policy, wanted.window, now())


def edit(
    session: Session,
    *,
    incident_id: str,
    actor: str,
    body: str | None = None,
    owner: str | None = None,
    version: int | None = None,
) -> Review:
    """Change the body or the owner. `version`, if given, must be the one the editor read:
    two people editing at once do not silently overwrite each other."""
    incident = incident_service.lock(session, incident_id)
    review = get_for_incident(session, incident_id)
    if version is not None and version != review.version:
        raise Conflict(
            f"the review changed since you read it (version {version}, now {review.version}); "
            "reload and edit again",
            field="version",
        )
    if review.status == "closed":
        raise Conflict("the review is closed; reopen is not possible", field="status")
    changes = _apply_edit(review, body, owner)
    if changes:
        _touch(review, actor)
        timeline.append(
            session,
            incident=incident,
            kind="review_edited",
            actor=actor,
            at=review.updated_at,
            data={
                "review_id": review.id,
                "changed": changes,
                "version": review.version,
                "owner": review.owner,
            },
        )
    return review


def _apply_edit(review: Review, body: str | None, owner: str | None) -> list[str]:
    changes = []
    if body is not None and body != review.body:
        if len(body) > MAX_BODY:
            raise InvalidInput(f"body is longer than {MAX_BODY} characters", field="body")
        review.body = body
        changes.append("body")
    if owner is not None and owner != (review.owner or ""):
        review.owner = owner or None
        changes.append("owner")
    return changes


def _touch(review: Review, actor: str) -> None:
    review.updated_at = now()
    review.updated_by = actor
    review.version += 1


def set_status(session: Session, *, incident_id: str, status: str, actor: str) -> Review:
    """Move the review along draft → in_review → reviewed → closed. Reaching `reviewed` (or
    `closed`) meets its clock, or records it breached if the due time passed first."""
    incident = incident_service.lock(session, incident_id)
    review = get_for_incident(session, incident_id)
    previous = review.status
    lifecycle.check_review_move(previous, status)
    at = now()
    review.status = status
    _touch(review, actor)
    if status == "reviewed" and review.reviewed_at is None:
        review.reviewed_at = at
    if status == "closed":
        review.closed_at = at
    timeline.append(
        session,
        incident=incident,
        kind="review_status_changed",
        actor=actor,
        at=at,
        data={"review_id": review.id, "from": previous, "to": status},
    )
    if status in lifecycle.HELD:
        _settle_pending(session, incident, REVIEW_SUBJECT, review.id, at, actor)
    return review


def mark_held(session: Session, *, incident_id: str, actor: str, note: str = "") -> Review:
    """The review was held (`tocsin incident complete ID review`): straight to reviewed
    from draft or in_review, through the same checks and events."""
    review = get_for_incident(session, incident_id)
    if review.status == "draft":
        set_status(session, incident_id=incident_id, status="in_review", actor=actor)
    review = set_status(session, incident_id=incident_id, status="reviewed", actor=actor)
    clock = clock_of(session, REVIEW_SUBJECT, review.id)
    if clock is not None and note:
        clock.note = note
    return review


# -- action items -----------------------------------------------------------------------------


@dataclass(frozen=True)
class NewItem:
    title: str
    owner: str | None = None
    item_class: str | None = None
    due_at: datetime | None = None
    tracker_url: str | None = None


def add_item(
    session: Session, *, incident_id: str, policy: Policy, item: NewItem, actor: str
) -> ActionItem:
    """An action item on the incident's review, due when its class says (or on `due_at`)."""
    incident = incident_service.lock(session, incident_id)
    review = get_for_incident(session, incident_id)
    at = now()
    due = _due(policy, item, at)
    row = ActionItem(
        review_id=review.id,
        incident_id=incident.id,
        title=_title(item.title),
        owner=item.owner or None,
        item_class=item.item_class,
        due_at=due,
        status="open",
        tracker_url=_url(item.tracker_url),
        created_at=at,
        created_by=actor,
        updated_at=at,
    )
    session.add(row)
    session.flush()
    timeline.append(
        session,
        incident=incident,
        kind="action_item_added",
        actor=actor,
        at=at,
        data=_item_data(row),
    )
    _start_item_clock(session, incident, row, at)
    return row


def _due(policy: Policy, item: NewItem, at: datetime) -> datetime:
    if item.item_class is not None:
        class_due = lifecycle.item_due(policy, item.item_class, at)
        return item.due_at or class_due
    if item.due_at is None:
        allowed = [c.id for c in lifecycle.classes(policy)]
        raise InvalidInput(
            f"give a class ({', '.join(allowed)}) or a due_at", field="class", allowed=allowed
        )
    return item.due_at


def _title(title: str) -> str:
    cleaned = " ".join(title.split())
    if not cleaned or len(cleaned) > 300:
        raise InvalidInput("title must be 1 to 300 characters", field="title")
    return cleaned


def _url(url: str | None) -> str | None:
    if not url:
        return None
    if not url.startswith(("https://", "http://")) or len(url) > 2000:
        raise InvalidInput(
            "tracker_url must be an http(s) URL up to 2000 characters", field="tracker_url"
        )
    return url


def _item_data(item: ActionItem, **extra: Any) -> dict[str, Any]:
    return {
        "action_item_id": item.id,
        "title": item.title,
        "owner": item.owner,
        "class": item.item_class,
        "due_at": format_instant(item.due_at),
        "status": item.status,
        "tracker_url": item.tracker_url,
        **extra,
    }


def _start_item_clock(session: Session, incident: Incident, item: ActionItem, at: datetime) -> None:
    label = f"Action item #{item.id}: {item.title}"[:300]
    key = f"{ACTION_ITEM.key}:{item.id}"
    _start_clock(session, ITEM_SUBJECT, item.id, incident, key, label, "done", item.due_at, at)


@dataclass(frozen=True)
class ItemChange:
    title: str | None = None
    owner: str | None = None
    status: str | None = None
    due_at: datetime | None = None
    tracker_url: str | None = None


def update_item(session: Session, *, item_id: int, change: ItemChange, actor: str) -> ActionItem:
    """Change an action item. Done meets its clock (breached if late); won't do cancels it;
    reopening one starts a new clock to its due date; a new due date re-arms the clock."""
    item = get_item(session, item_id)
    incident = incident_service.lock(session, item.incident_id)
    at = now()
    changed = _apply_item(item, change)
    if change.status is not None and change.status != item.status:
        lifecycle.check_item_move(item.status, change.status)
        changed.append("status")
        previous, item.status = item.status, change.status
        item.done_at = at if item.status == "done" else None
        _item_clock_follows(session, incident, item, previous, at, actor)
    elif "due_at" in changed and item.status not in lifecycle.ITEM_FINISHED:
        _cancel_pending(session, incident, ITEM_SUBJECT, item.id, "due date changed")
        _start_item_clock(session, incident, item, at)
    if changed:
        item.updated_at = at
        timeline.append(
            session,
            incident=incident,
            kind="action_item_updated",
            actor=actor,
            at=at,
            data=_item_data(item, changed=changed),
        )
    return item


def _apply_item(item: ActionItem, change: ItemChange) -> list[str]:
    changed = []
    if change.title is not None and _title(change.title) != item.title:
        item.title = _title(change.title)
        changed.append("title")
    if change.owner is not None and (change.owner or None) != item.owner:
        item.owner = change.owner or None
        changed.append("owner")
    if change.due_at is not None and change.due_at != item.due_at:
        item.due_at = change.due_at
        changed.append("due_at")
    if change.tracker_url is not None and _url(change.tracker_url) != item.tracker_url:
        item.tracker_url = _url(change.tracker_url)
        changed.append("tracker_url")
    return changed


def _item_clock_follows(
    session: Session, incident: Incident, item: ActionItem, previous: str, at: datetime, actor: str
) -> None:
    if item.status == "done":
        _settle_pending(session, incident, ITEM_SUBJECT, item.id, at, actor)
    elif item.status == "wont_do":
        _cancel_pending(session, incident, ITEM_SUBJECT, item.id, "action item won't be done")
    elif previous in lifecycle.ITEM_FINISHED:
        _start_item_clock(session, incident, item, at)


def items_for_review(session: Session, reviews: Sequence[Review]) -> dict[int, list[ActionItem]]:
    if not reviews:
        return {}
    query = select(ActionItem).where(ActionItem.review_id.in_([r.id for r in reviews]))
    found: dict[int, list[ActionItem]] = {r.id: [] for r in reviews}
    for item in session.scalars(query.order_by(ActionItem.due_at, ActionItem.id)):
        found[item.review_id].append(item)
    return found
