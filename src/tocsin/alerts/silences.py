"""Maintenance windows and silences: matching alerts are stored but do not page."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.alerts.models import Silence
from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.timesource import now

KINDS = ("maintenance", "silence")

# Where ingest keeps, for one transaction, the silences in force.
SILENCES_KEY = "tocsin.alerts.active_silences"


def create(
    session: Session,
    *,
    reason: str,
    ends_at: datetime,
    actor: str,
    service: str | None = None,
    matchers: dict[str, str] | None = None,
    starts_at: datetime | None = None,
    kind: str = "silence",
) -> Silence:
    if kind not in KINDS:
        raise InvalidInput(
            f"unknown kind {kind!r}; allowed: {', '.join(KINDS)}", field="kind", allowed=KINDS
        )
    start = starts_at or now()
    if ends_at <= start:
        raise InvalidInput("ends_at must be after starts_at", field="ends_at")
    if not service and not matchers:
        raise InvalidInput(
            "say what to silence: a service, label matchers, or both", field="service"
        )
    silence = Silence(
        service=service,
        matchers=matchers or {},
        starts_at=start,
        ends_at=ends_at,
        reason=reason,
        kind=kind,
        created_by=actor,
        created_at=now(),
    )
    session.add(silence)
    session.flush()
    forget_active(session)
    return silence


def list_silences(session: Session, *, active_only: bool) -> list[Silence]:
    query = select(Silence).order_by(Silence.id.desc())
    if active_only:
        at = now()
        query = query.where(Silence.ends_at > at, Silence.cancelled.is_(False))
    return list(session.scalars(query))


def cancel(session: Session, *, silence_id: int) -> Silence:
    silence = session.get(Silence, silence_id)
    if silence is None:
        raise NotFound(f"no silence {silence_id}", field="id")
    if silence.cancelled:
        raise Conflict(f"silence {silence_id} is already cancelled", field="id")
    silence.cancelled = True
    forget_active(session)
    return silence


def forget_active(session: Session) -> None:
    """Drop ingest's per-transaction copy of the silences in force (see ingest.py)."""
    session.info.pop(SILENCES_KEY, None)
