"""The timeline hash chain: pure functions, no database.

Each event's hash is SHA-256 over its predecessor's hash followed by the event's canonical JSON
(sorted keys, no whitespace, UTC timestamps with microseconds). Changing, removing or reordering
any event changes every hash after it, and the chain head kept on the incident catches a
truncated tail.
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
    *, incident_id: str, seq: int, kind: str, at: datetime, actor: str, data: Mapping[str, Any]
) -> bytes:
    body = {
        "actor": actor,
        "at": format_instant(at),
        "data": data,
        "incident_id": incident_id,
        "kind": kind,
        "seq": seq,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


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
    )
    return link_hash(event.prev_hash, canonical)


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
