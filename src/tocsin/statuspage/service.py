"""The status page's operations: components, overrides, public incidents and maintenance,
and their updates. Each takes the caller's session and never commits; every change bumps the
page's version so cached copies of the page know they are stale."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.statuspage.models import Component, PageState, PublicIncident, PublicUpdate
from tocsin.statuspage.statuses import (
    COMPONENT_STATUSES,
    ENDED,
    INCIDENT_STATUSES,
    MAINTENANCE_STATUSES,
    check,
    impact_of,
)
from tocsin.timesource import now

SLUG = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,79}$")
KINDS = ("incident", "maintenance")


# -- the page's version -----------------------------------------------------------------------


def bump(session: Session) -> None:
    """Say the page changed (in the caller's transaction)."""
    changed = session.execute(
        update(PageState).where(PageState.id == 1).values(version=PageState.version + 1)
    )
    if getattr(changed, "rowcount", 0) == 0:
        session.add(PageState(id=1, version=1))
        session.flush()


def version(session: Session) -> int:
    return session.scalar(select(PageState.version).where(PageState.id == 1)) or 0


# -- components -------------------------------------------------------------------------------


def components(session: Session) -> list[Component]:
    query = select(Component).order_by(Component.position, Component.id)
    return list(session.scalars(query))


def component(session: Session, slug: str) -> Component:
    found = session.scalar(select(Component).where(Component.slug == slug))
    if found is None:
        known = [c.slug for c in components(session)]
        raise NotFound(
            f"no component {slug!r}; known: {', '.join(known) or 'none yet'}",
            field="component",
            allowed=known,
        )
    return found


def add_component(
    session: Session,
    *,
    slug: str,
    name: str,
    description: str = "",
    group: str | None = None,
    services: Sequence[str] = (),
    position: int | None = None,
) -> Component:
    if not SLUG.match(slug):
        raise InvalidInput(
            f"{slug!r} is not a component id: use lowercase letters, digits, - and _",
            field="slug",
        )
    if session.scalar(select(Component.id).where(Component.slug == slug)) is not None:
        raise Conflict(f"component {slug!r} already exists", field="slug")
    at = now()
    row = Component(
        slug=slug,
        name=_text(name, "name"),
        description=description,
        group_name=group or None,
        services=_services(services),
        position=position if position is not None else len(components(session)),
        created_at=at,
        updated_at=at,
    )
    session.add(row)
    session.flush()
    bump(session)
    return row


def change_component(
    session: Session,
    *,
    slug: str,
    name: str | None = None,
    description: str | None = None,
    group: str | None = None,
    services: Sequence[str] | None = None,
    position: int | None = None,
) -> Component:
    row = component(session, slug)
    if name is not None:
        row.name = _text(name, "name")
    if description is not None:
        row.description = description
    if group is not None:
        row.group_name = group or None
    if services is not None:
        row.services = _services(services)
    if position is not None:
        row.position = position
    row.updated_at = now()
    bump(session)
    return row


def remove_component(session: Session, *, slug: str) -> None:
    session.delete(component(session, slug))
    bump(session)


def override(
    session: Session, *, slug: str, status: str | None, note: str | None, actor: str
) -> Component:
    """A person sets the component's status (None clears it: incidents decide again)."""
    row = component(session, slug)
    if status is not None:
        check(status, COMPONENT_STATUSES, "status")
    row.override_status = status
    row.override_note = note if status is not None else None
    row.override_by = actor if status is not None else None
    row.override_at = now() if status is not None else None
    row.updated_at = now()
    bump(session)
    return row


def _services(services: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(s.strip() for s in services if s.strip()))


def _text(value: str, field: str) -> str:
    if not value or not value.strip():
        raise InvalidInput(f"{field} is required", field=field)
    return value.strip()


# -- public incidents and maintenance ----------------------------------------------------------


def find(session: Session, code: str) -> PublicIncident:
    found = session.scalar(select(PublicIncident).where(PublicIncident.code == code))
    if found is None:
        raise NotFound(f"no public incident or maintenance {code!r}", field="id")
    return found


def find_by_id(session: Session, row_id: int) -> PublicIncident:
    found = session.get(PublicIncident, row_id)
    if found is None:
        raise NotFound(f"no public incident or maintenance {row_id}", field="id")
    return found


def lock(session: Session, code: str) -> PublicIncident:
    query = select(PublicIncident).where(PublicIncident.code == code).with_for_update()
    found = session.scalar(query)
    if found is None:
        raise NotFound(f"no public incident or maintenance {code!r}", field="id")
    return found


def of_incident(session: Session, incident_id: str) -> PublicIncident | None:
    """The public incident that tells customers about an internal one, if published."""
    query = select(PublicIncident).where(PublicIncident.incident_id == incident_id)
    return session.scalar(query.order_by(PublicIncident.id.desc()).limit(1))


def listed(
    session: Session, *, kind: str | None = None, open_only: bool = False, limit: int = 50
) -> list[PublicIncident]:
    query = select(PublicIncident)
    if kind is not None:
        query = query.where(PublicIncident.kind == kind)
    if open_only:
        query = query.where(PublicIncident.status.not_in(ENDED))
    return list(session.scalars(query.order_by(PublicIncident.id.desc()).limit(limit)))


def updates_of(session: Session, ids: Sequence[int]) -> dict[int, list[PublicUpdate]]:
    found: dict[int, list[PublicUpdate]] = {i: [] for i in ids}
    if not ids:
        return found
    query = select(PublicUpdate).where(PublicUpdate.status_incident_id.in_(ids))
    for row in session.scalars(query.order_by(PublicUpdate.id.desc())):
        found[row.status_incident_id].append(row)
    return found


def open_incident(
    session: Session,
    *,
    name: str,
    status: str,
    message: str,
    components: Mapping[str, str],
    actor: str,
    incident_id: str | None = None,
) -> PublicUpdate:
    """A new public incident with its first update."""
    check(status, INCIDENT_STATUSES, "status")
    at = now()
    row = PublicIncident(
        code=_new_code(),
        kind="incident",
        incident_id=incident_id,
        name=_text(name, "title"),
        status="investigating",
        impact="none",
        components={},
        created_at=at,
        updated_at=at,
        started_at=at,
    )
    session.add(row)
    session.flush()
    return post_update(
        session, row=row, status=status, message=message, given=components, actor=actor
    )


def schedule_maintenance(
    session: Session,
    *,
    name: str,
    message: str,
    scheduled_for: datetime,
    scheduled_until: datetime,
    components: Sequence[str],
    actor: str,
    auto_complete: bool = True,
) -> PublicUpdate:
    """A maintenance window, announced now, which the engine starts at `scheduled_for`."""
    if scheduled_until <= scheduled_for:
        raise InvalidInput("scheduled_until must be after scheduled_for", field="scheduled_until")
    if scheduled_until <= now():
        raise InvalidInput("scheduled_until is already past", field="scheduled_until")
    at = now()
    row = PublicIncident(
        code=_new_code(),
        kind="maintenance",
        name=_text(name, "title"),
        status="scheduled",
        impact="maintenance",
        components={},
        scheduled_for=scheduled_for,
        scheduled_until=scheduled_until,
        auto_complete=auto_complete,
        created_at=at,
        updated_at=at,
    )
    session.add(row)
    session.flush()
    effect = dict.fromkeys(components, "under_maintenance")
    return post_update(
        session, row=row, status="scheduled", message=message, given=effect, actor=actor
    )


def post_update(
    session: Session,
    *,
    row: PublicIncident,
    status: str,
    message: str,
    actor: str,
    given: Mapping[str, str] | None = None,
) -> PublicUpdate:
    """An update: the new status, what customers are told, and what it does to components.

    An incident's components keep the status it gives them until it is resolved (then they
    are operational again as far as it is concerned); `components` changes some of them."""
    allowed = MAINTENANCE_STATUSES if row.kind == "maintenance" else INCIDENT_STATUSES
    check(status, allowed, "status")
    if row.status in ENDED and status in ENDED:
        raise Conflict(f"{row.code} is already {row.status}", field="status")
    effect = dict(row.components)
    known = [c.slug for c in components(session)]
    for slug, value in (given or {}).items():
        if slug not in known:
            raise InvalidInput(
                f"unknown component {slug!r}; allowed: {', '.join(known) or 'none yet'}",
                field="components",
                allowed=known,
            )
        effect[slug] = check(value, COMPONENT_STATUSES, f"components.{slug}")
    affected = _affected(session, row, effect, status)
    at = now()
    row.components = effect
    row.status = status
    row.updated_at = at
    if row.kind == "incident":
        row.impact = impact_of(effect.values())
    _stamp(row, status, at)
    entry = PublicUpdate(
        status_incident_id=row.id,
        status=status,
        body=_text(message, "message"),
        affected=affected,
        created_at=at,
        created_by=actor,
    )
    session.add(entry)
    session.flush()
    bump(session)
    return entry


def _stamp(row: PublicIncident, status: str, at: datetime) -> None:
    if status == "monitoring" and row.monitoring_at is None:
        row.monitoring_at = at
    if status == "in_progress" and row.started_at is None:
        row.started_at = at
    row.resolved_at = at if status in ENDED else None


def _affected(
    session: Session, row: PublicIncident, effect: Mapping[str, str], status: str
) -> list[dict[str, str]]:
    """Statuspage's affected_components: each component this update concerns, before and
    after (an ended incident gives its components back as operational)."""
    names = {c.slug: c.name for c in components(session)}
    ended = status in ENDED
    return [
        {
            "code": slug,
            "name": names.get(slug, slug),
            "old_status": row.components.get(slug, "operational"),
            "new_status": "operational" if ended else value,
        }
        for slug, value in effect.items()
    ]


def _new_code() -> str:
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))
