"""Integrations: create, list, rotate keys, delete, and find one by its key."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.alerts.kinds import HEARTBEAT, KINDS, heartbeat
from tocsin.alerts.models import INTEGRATION_KINDS, Integration
from tocsin.alerts.normalized import SOURCE_SEVERITIES
from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.timesource import now


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key() -> str:
    # 32 hex characters: the shape of a PagerDuty routing key, which some senders validate.
    return secrets.token_hex(16)


# A key given by the caller (an Opsgenie API key, a PagerDuty integration key) rather than made.
GIVEN_KEY = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


def _given_key(session: Session, key: str) -> str:
    if not GIVEN_KEY.match(key):
        raise InvalidInput("a key is 16 to 128 letters, digits, '-' or '_'", field="key")
    if by_key(session, key) is not None:
        raise Conflict("another integration already has this key", field="key")
    return key


def _check_kind(kind: str) -> None:
    if kind not in INTEGRATION_KINDS:
        raise InvalidInput(
            f"unknown integration kind {kind!r}; allowed: {', '.join(INTEGRATION_KINDS)}",
            field="kind",
            allowed=INTEGRATION_KINDS,
        )


def _default_severity(kind: str, given: str | None) -> str | None:
    row = KINDS[kind]
    if given is None:
        return row.default_severity
    if not row.takes_default_severity:
        takes = [k.name for k in KINDS.values() if k.takes_default_severity]
        raise InvalidInput(
            f"{kind} alerts always carry a severity; a default severity is for "
            f"{', '.join(takes)} integrations",
            field="default_severity",
        )
    if given not in SOURCE_SEVERITIES:
        raise InvalidInput(
            f"unknown default_severity {given!r}; allowed: {', '.join(SOURCE_SEVERITIES)}",
            field="default_severity",
            allowed=SOURCE_SEVERITIES,
        )
    return given


def create(
    session: Session,
    *,
    name: str,
    kind: str,
    actor: str,
    service: str | None = None,
    heartbeat_interval_s: int | None = None,
    heartbeat_grace_s: int | None = None,
    key: str | None = None,
    default_severity: str | None = None,
) -> tuple[Integration, str]:
    """Create an integration; returns it with its key (shown once, stored only as a digest).
    `key` keeps a sender's existing key (one moved from another tool); by default it is new.
    `default_severity` is the source severity of its alerts that carry none (by default the
    kind's: warning for Grafana)."""
    _check_kind(kind)
    default_severity = _default_severity(kind, default_severity)
    is_heartbeat = kind == HEARTBEAT.name
    if is_heartbeat:
        heartbeat.require_interval(heartbeat_interval_s)
    key = _new_key() if key is None else _given_key(session, key)
    integration = Integration(
        name=name,
        kind=kind,
        key_digest=digest(key),
        key_prefix=key[:6],
        service=service,
        default_severity=default_severity,
        created_at=now(),
        created_by=actor,
        heartbeat_interval_s=heartbeat_interval_s if is_heartbeat else None,
        heartbeat_grace_s=(heartbeat_grace_s or 0) if is_heartbeat else None,
    )
    if is_heartbeat:
        integration.heartbeat_due_at = heartbeat_due(integration)
    session.add(integration)
    session.flush()
    return integration, key


def heartbeat_due(integration: Integration) -> datetime:
    since = integration.last_ping_at or now()
    return heartbeat.next_due(
        since, integration.heartbeat_interval_s, integration.heartbeat_grace_s
    )


def by_key(session: Session, key: str) -> Integration | None:
    query = select(Integration).where(
        Integration.key_digest == digest(key), Integration.deleted_at.is_(None)
    )
    return session.scalar(query)


def get(session: Session, integration_id: int) -> Integration:
    integration = session.get(Integration, integration_id)
    if integration is None or integration.deleted_at is not None:
        raise NotFound(f"no integration {integration_id}", field="id")
    return integration


def list_all(session: Session) -> list[Integration]:
    query = select(Integration).where(Integration.deleted_at.is_(None)).order_by(Integration.id)
    return list(session.scalars(query))


def rotate_key(session: Session, *, integration_id: int) -> tuple[Integration, str]:
    """A new key; the old one stops working at once."""
    integration = get(session, integration_id)
    key = _new_key()
    integration.key_digest, integration.key_prefix = digest(key), key[:6]
    return integration, key


def delete(session: Session, *, integration_id: int) -> None:
    """Stop accepting alerts; the integration's alerts stay on record."""
    integration = get(session, integration_id)
    integration.deleted_at = now()
    integration.key_digest = digest(_new_key())  # the old key can never match again
    integration.heartbeat_due_at = None
