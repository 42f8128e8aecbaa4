"""Containment switches: the policy's switches (rastup's `global-readonly`), flipped on and
off as incident actions, each flip with a reason and on the incident's chain.

How a flip reaches the real switch: the policy's `webhook` is sent a JSON body signed with
HMAC-SHA256 (header `X-Tocsin-Signature: sha256=<hex of HMAC(secret, body)>`), through the
outbox, so it is retried until delivered and a failure is told to the fallback contact like
any message. The secret is sealed in the database (`tocsin secrets switch NAME`). A switch
without a webhook is flipped by hand; Tocsin records it and shows it all the same.

Clocks: turning a switch on starts its `limit` (the commander is reminded before and told at
it); releasing meets the limit and starts the `watch`, which is met only if it runs out with
no new alert on the incident's services (tocsin.evidence.clock_handlers).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin import vault
from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.evidence.models import ContainmentSwitch
from tocsin.incidents import clocks as clock_service
from tocsin.incidents import service as incident_service
from tocsin.incidents import timeline
from tocsin.incidents.chain import format_instant
from tocsin.incidents.models import Clock, Incident
from tocsin.notify import outbox
from tocsin.notify.models import ServerSecret
from tocsin.notify.sealed import database_url
from tocsin.policy.clock_kinds import SWITCH_LIMIT, SWITCH_WATCH
from tocsin.policy.deadlines import PlannedClock
from tocsin.policy.schema import ContainmentFlag
from tocsin.timesource import now

STATES = ("on", "off")
ACTOR = "tocsin"


def secret_name(switch: str) -> str:
    return f"switch:{switch}"


def set_secret(session: Session, *, switch: str, value: str | None = None) -> str:
    """Store (sealed) the HMAC secret a switch's webhook is signed with; a new random one
    if none is given. Returns the secret, for the receiver's configuration."""
    secret = value if value is not None else secrets.token_hex(32)
    if len(secret) < 16:
        raise InvalidInput("a signing secret needs at least 16 characters", field="secret")
    sealed = vault.seal(secret, database_url(session))
    stored = session.get(ServerSecret, secret_name(switch))
    if stored is None:
        session.add(ServerSecret(name=secret_name(switch), value=sealed, created_at=now()))
    else:
        stored.value = sealed
    return secret


def _secret(session: Session, switch: str) -> bytes:
    stored = session.get(ServerSecret, secret_name(switch))
    if stored is None:
        raise Conflict(
            f"switch {switch} has a webhook but no signing secret: an admin sets one with "
            f"`tocsin secrets switch {switch}`",
            field="switch",
        )
    return vault.unseal(stored.value, database_url(session)).encode()


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _declared(session: Session, incident: Incident, name: str) -> ContainmentFlag:
    policy = incident_service.policy_of(session, incident).policy
    found = policy.switch(name)
    if found is None:
        allowed = policy.switch_ids()
        raise NotFound(
            f"no containment switch {name!r}; this policy's switches: "
            f"{', '.join(allowed) or 'none'}",
            field="switch",
            allowed=allowed,
        )
    return found


def held(session: Session, incident_id: str) -> list[ContainmentSwitch]:
    query = select(ContainmentSwitch).where(ContainmentSwitch.incident_id == incident_id)
    return list(session.scalars(query.order_by(ContainmentSwitch.name)))


def on_now(session: Session) -> list[ContainmentSwitch]:
    """Every switch that is on, across incidents (the dashboard's banner)."""
    query = select(ContainmentSwitch).where(ContainmentSwitch.state == "on")
    return list(session.scalars(query.order_by(ContainmentSwitch.on_since)))


@dataclass(frozen=True)
class Flip:
    incident: Incident
    switch: ContainmentSwitch
    signed: bool  # a webhook was queued


def flip(
    session: Session, *, incident_id: str, name: str, state: str, reason: str, actor: str
) -> Flip:
    """Turn a switch on or off for an incident.

    1. Check the switch, the state and the reason; refuse a flip to the state it is in.
    2. Record the switch's row and `switch_flipped` on the chain.
    3. Queue the signed webhook, if the policy gives one.
    4. On: start the limit clock. Off: meet the limit, start the watch clock."""
    if state not in STATES:
        raise InvalidInput(f"state must be on or off, not {state!r}", field="state", allowed=STATES)
    if not reason.strip():
        raise InvalidInput("a containment flip needs a reason", field="reason")
    incident = incident_service.lock(session, incident_id)
    declared = _declared(session, incident, name)
    row = _row(session, incident.id, name)
    current = row.state if row is not None else "off"
    if current == state:
        raise Conflict(f"switch {name} is already {state} on {incident.id}", field="state")
    at = now()
    row = _record(session, incident, row, name, state, reason, actor, at)
    signed = declared.webhook is not None
    data: dict[str, Any] = {"switch": name, "state": state, "reason": reason}
    data["how"] = "webhook" if signed else "by hand"
    event = timeline.append(
        session, incident=incident, kind="switch_flipped", actor=actor, at=at, data=data
    )
    if signed:
        _send(session, incident, declared, state, reason, actor, at, event.seq)
    (_on if state == "on" else _off)(session, incident, declared, at, actor)
    return Flip(incident, row, signed)


def _row(session: Session, incident_id: str, name: str) -> ContainmentSwitch | None:
    query = select(ContainmentSwitch).where(
        ContainmentSwitch.incident_id == incident_id, ContainmentSwitch.name == name
    )
    return session.scalar(query)


def _record(
    session: Session,
    incident: Incident,
    row: ContainmentSwitch | None,
    name: str,
    state: str,
    reason: str,
    actor: str,
    at: datetime,
) -> ContainmentSwitch:
    if row is None:
        row = ContainmentSwitch(incident_id=incident.id, name=name)
        session.add(row)
    row.state, row.reason, row.changed_by, row.changed_at = state, reason, actor, at
    row.on_since = at if state == "on" else None
    session.flush()
    return row


def body(
    incident: Incident,
    name: str,
    state: str,
    reason: str,
    actor: str,
    at: datetime,
    seq: int,
) -> bytes:
    """The webhook's exact bytes, which the signature covers. `seq` is the flip's place on
    the incident's chain: a retried "on" can arrive after a later "off", so a receiver
    applies a flip only if its seq is above the last it applied for that incident."""
    key = f"switch/{incident.id}/{name}/{seq}"
    payload = {
        "idempotency_key": key,
        "seq": seq,
        "switch": name,
        "state": state,
        "incident": incident.id,
        "reason": reason,
        "actor": actor,
        "at": format_instant(at),
    }
    if incident.flags.get("drill"):
        payload["drill"] = True  # the receiver flips its test flag, never the real switch
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def _send(
    session: Session,
    incident: Incident,
    declared: ContainmentFlag,
    state: str,
    reason: str,
    actor: str,
    at: datetime,
    seq: int,
) -> None:
    assert declared.webhook is not None
    raw = body(incident, declared.id, state, reason, actor, at, seq)
    key = json.loads(raw)["idempotency_key"]
    outbox.enqueue(
        session,
        idempotency_key=key,
        purpose="notify",
        channel="signed_webhook",
        address=declared.webhook.url,
        subject=("[DRILL] " if incident.flags.get("drill") else "")
        + f"{declared.id} {state} ({incident.id})",
        body=raw.decode(),
        data={
            "signature": sign(_secret(session, declared.id), raw),
            "comms": {"kind": "switch", "key": f"switch:{declared.id}:{state}"},
        },
        incident_id=incident.id,
    )


def limit_key(name: str) -> str:
    return f"{SWITCH_LIMIT.key}:{name}"


def watch_key(name: str) -> str:
    return f"{SWITCH_WATCH.key}:{name}"


def _pending(session: Session, incident: Incident, key: str) -> list[Clock]:
    return [c for c in clock_service.pending(session, incident.id) if c.key == key]


def _on(
    session: Session, incident: Incident, declared: ContainmentFlag, at: datetime, actor: str
) -> None:
    """A watch still running is moot once the switch is on again; the limit starts."""
    watching = _pending(session, incident, watch_key(declared.id))
    clock_service.cancel(
        session, incident=incident, clocks=watching, reason=f"{declared.id} on again", actor=actor
    )
    if declared.limit is not None:
        label = f"Release {declared.id} (on for at most {declared.limit.describe()})"
        calendar = incident_service.policy_of(session, incident).policy.calendar()
        due_at = calendar.add(at, declared.limit)
        _start(session, incident, SWITCH_LIMIT.key, limit_key(declared.id), label, at, due_at)


def _off(
    session: Session, incident: Incident, declared: ContainmentFlag, at: datetime, actor: str
) -> None:
    clock_service.meet(session, incident=incident, key=limit_key(declared.id), actor=actor, at=at)
    if declared.watch is not None:
        services = ", ".join(incident.services) or "the incident's alerts"
        label = (
            f"Watch after releasing {declared.id}: no new alert on {services} "
            f"for {declared.watch.describe()}"
        )
        calendar = incident_service.policy_of(session, incident).policy.calendar()
        due_at = calendar.add(at, declared.watch)
        _start(session, incident, SWITCH_WATCH.key, watch_key(declared.id), label, at, due_at)


def _start(
    session: Session,
    incident: Incident,
    kind: str,
    key: str,
    label: str,
    at: datetime,
    due_at: datetime,
) -> None:
    planned = PlannedClock(
        kind=kind,
        key=key,
        action="notify",
        label=label,
        due_at=due_at,
        targets=("commander",),
        stop_on=None,
    )
    clock_service.start(session, incident, [planned], at)


def states(
    session: Session, incident_id: str
) -> list[tuple[ContainmentFlag, ContainmentSwitch | None]]:
    """Every switch the incident's policy declares, with the incident's row (None: never
    flipped, so off)."""
    incident = incident_service.get(session, incident_id)
    rows = {row.name: row for row in held(session, incident.id)}
    policy = incident_service.policy_of(session, incident).policy
    return [(declared, rows.get(declared.id)) for declared in policy.containment_flags]
