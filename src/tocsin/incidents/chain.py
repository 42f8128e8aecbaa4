"""The timeline hash chain: pure functions, no database.

Each event's hash is SHA-256 over its predecessor's hash followed by the event's canonical JSON
(sorted keys, no whitespace, UTC timestamps with microseconds). Changing, removing or reordering
any event changes every hash after it, and the chain head kept on the incident catches a
truncated tail.

The incident row is covered too: every event records the digest of the row's state as it
stood once the change was made (`state`), so a row edited behind Tocsin's back no longer
matches its last event; and the fields the events carry (title, severity, status, roles,
flags, who acknowledged) are replayed from the chain, so the check can name the field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from tocsin.timesource import as_utc

GENESIS_HASH = "0" * 64


def format_instant(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_event(
    *,
    incident_id: str,
    seq: int,
    kind: str,
    at: datetime,
    actor: str,
    data: Mapping[str, Any],
    state: str | None = None,
) -> bytes:
    body = {
        "actor": actor,
        "at": format_instant(at),
        "data": data,
        "incident_id": incident_id,
        "kind": kind,
        "seq": seq,
    }
    if state is not None:  # events recorded before the row was covered have none
        body["state"] = state
    return _canonical(body)


def _canonical(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# The incident row's fields the chain covers (its chain head, which moves with every event,
# is checked by find_break instead).
STATE_FIELDS = (
    "id",
    "title",
    "summary",
    "severity",
    "type",
    "status",
    "services",
    "flags",
    "roles",
    "policy_name",
    "policy_hash",
    "declared_by",
    "impact_started_at",
    "detected_at",
    "declared_at",
    "acknowledged_at",
    "acknowledged_by",
    "mitigated_at",
    "resolved_at",
    "closed_at",
)


def state_digest(row: object) -> str:
    """SHA-256 of the incident row's covered fields, as canonical JSON."""
    values = {name: _plain(getattr(row, name)) for name in STATE_FIELDS}
    return hashlib.sha256(_canonical(values)).hexdigest()


def _plain(value: Any) -> Any:
    return format_instant(value) if isinstance(value, datetime) else value


def link_hash(prev_hash: str, canonical: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest()


class ChainedEvent(Protocol):
    @property
    def incident_id(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def actor(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


@dataclass(frozen=True)
class ChainBreak:
    incident_id: str
    seq: int
    reason: str

    def __str__(self) -> str:
        return f"{self.incident_id}: event #{self.seq}: {self.reason}"


def expected_hash(event: ChainedEvent) -> str:
    canonical = canonical_event(
        incident_id=event.incident_id,
        seq=event.seq,
        kind=event.kind,
        at=event.at,
        actor=event.actor,
        data=event.data,
        state=_state_of(event),
    )
    return link_hash(event.prev_hash, canonical)


def _state_of(event: ChainedEvent) -> str | None:
    """The row digest an event recorded; events from before rows were covered have none."""
    state: str | None = getattr(event, "state_hash", None)
    return state


def find_break(
    incident_id: str, events: Iterable[ChainedEvent], *, head_seq: int, head_hash: str
) -> ChainBreak | None:
    """The first broken link in one incident's chain, walking events in `seq` order."""
    prev_hash, expected_seq = GENESIS_HASH, 1
    for event in events:
        if event.seq != expected_seq:
            return ChainBreak(incident_id, expected_seq, f"missing (found #{event.seq} next)")
        if event.prev_hash != prev_hash:
            return ChainBreak(incident_id, event.seq, "prev_hash does not match the event before")
        if expected_hash(event) != event.hash:
            return ChainBreak(incident_id, event.seq, "content does not match its hash (altered)")
        prev_hash, expected_seq = event.hash, expected_seq + 1
    last_seq = expected_seq - 1
    if last_seq != head_seq or prev_hash != head_hash:
        return ChainBreak(
            incident_id, last_seq + 1, f"chain ends at #{last_seq} but the head is #{head_seq}"
        )
    return None


def replayed(events: Iterable[ChainedEvent]) -> dict[str, Any]:
    """The row's fields as the chain tells them: what the incident must say, field by field."""
    state: dict[str, Any] = {}
    for event in events:
        _REPLAY.get(event.kind, _ignore)(state, event)
    return state


def _declared(state: dict[str, Any], event: ChainedEvent) -> None:
    data = event.data
    state.update(
        title=data.get("title"),
        severity=data.get("severity"),
        type=data.get("type"),
        status="investigating",
        flags=dict(data.get("flags") or {}),
        roles={},
        acknowledged_by=None,
    )


def _severity(state: dict[str, Any], event: ChainedEvent) -> None:
    state["severity"] = event.data.get("to")


def _status(state: dict[str, Any], event: ChainedEvent) -> None:
    state["status"] = event.data.get("to")


def _acknowledged(state: dict[str, Any], event: ChainedEvent) -> None:
    state["acknowledged_by"] = event.actor


def _role(state: dict[str, Any], event: ChainedEvent) -> None:
    roles = dict(state.get("roles") or {})
    roles.pop(event.data.get("role"), None)
    if event.data.get("assignee"):
        roles[event.data["role"]] = event.data["assignee"]
    state["roles"] = roles


def _flags(state: dict[str, Any], event: ChainedEvent) -> None:
    merged = {**(state.get("flags") or {}), **(event.data.get("changes") or {})}
    state["flags"] = {k: v for k, v in merged.items() if v is not None}


def _ignore(state: dict[str, Any], event: ChainedEvent) -> None:
    return None


_REPLAY = {
    "declared": _declared,
    "severity_changed": _severity,
    "status_changed": _status,
    "reopened": _status,
    "acknowledged": _acknowledged,
    "role_assigned": _role,
    "role_unassigned": _role,
    "flags_changed": _flags,
}


def row_break(incident_id: str, row: object, events: list[ChainedEvent]) -> ChainBreak | None:
    """Where the incident row departs from its chain: a replayed field first (named), else
    the state digest its last event recorded."""
    for field, value in replayed(events).items():
        if getattr(row, field) != value:
            return ChainBreak(
                incident_id, 0, f"the incident's {field} is not what its timeline records"
            )
    recorded = next((_state_of(e) for e in reversed(events) if _state_of(e)), None)
    if recorded is not None and recorded != state_digest(row):
        return ChainBreak(
            incident_id, 0, "the incident row was changed after its last event (state digest)"
        )
    return None
