"""Making checkpoints: the Merkle root of every incident's chain head, signed, numbered, each
naming its predecessor's digest, and written to the witnesses outside the database.

A checkpoint lists only the heads that moved since the one before, so together they say what
every timeline was at each checkpoint; verification (tocsin.evidence.verify) replays them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.evidence import merkle, signing
from tocsin.evidence.merkle import Head
from tocsin.evidence.models import Checkpoint
from tocsin.incidents.chain import format_instant
from tocsin.incidents.models import Incident
from tocsin.timesource import now


def canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


def heads_digest(heads: list[list[Any]]) -> str:
    return hashlib.sha256(canonical({"heads": heads})).hexdigest()


def signed_payload(checkpoint: Checkpoint) -> bytes:
    """What the signature covers; the witnesses keep exactly this and the signature."""
    return canonical(
        {
            "number": checkpoint.number,
            "created_at": format_instant(checkpoint.created_at),
            "previous": checkpoint.previous,
            "root": checkpoint.root,
            "count": checkpoint.count,
            "heads_digest": checkpoint.heads_digest,
            "key_id": checkpoint.key_id,
        }
    )


def witness_record(checkpoint: Checkpoint) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(signed_payload(checkpoint))
    record.update(digest=checkpoint.digest, signature=checkpoint.signature)
    return record


def current_heads(session: Session) -> list[Head]:
    rows = session.execute(select(Incident.id, Incident.last_event_seq, Incident.last_event_hash))
    return [Head(i, seq, h) for i, seq, h in rows]


def checkpointed_heads(session: Session) -> dict[str, Head]:
    """Every incident's head as of the latest checkpoint, replayed from all of them."""
    found: dict[str, Head] = {}
    for heads in session.scalars(select(Checkpoint.heads).order_by(Checkpoint.number)):
        for incident_id, seq, digest in heads:
            found[incident_id] = Head(incident_id, seq, digest)
    return found


def latest(session: Session) -> Checkpoint | None:
    return session.scalar(select(Checkpoint).order_by(Checkpoint.number.desc()).limit(1))


@dataclass(frozen=True)
class Made:
    checkpoint: Checkpoint
    moved: int  # heads that moved since the previous checkpoint


def create(session: Session, key: Ed25519PrivateKey, *, at: datetime | None = None) -> Made:
    """Sign a checkpoint over every chain head as they stand in this transaction."""
    before = checkpointed_heads(session)
    heads = current_heads(session)
    moved = [[h.incident_id, h.seq, h.hash] for h in heads if before.get(h.incident_id) != h]
    moved.sort()
    previous = latest(session)
    checkpoint = Checkpoint(
        number=(previous.number + 1) if previous else 1,
        created_at=at or now(),
        previous=previous.digest if previous else None,
        root=merkle.root(heads),
        count=len(heads),
        heads=moved,
        heads_digest=heads_digest(moved),
        key_id=signing.key_id(key.public_key()),
    )
    payload = signed_payload(checkpoint)
    checkpoint.digest = hashlib.sha256(payload).hexdigest()
    checkpoint.signature = signing.sign(key, payload)
    session.add(checkpoint)
    session.flush()
    return Made(checkpoint, len(moved))


def moved_since_latest(session: Session) -> bool:
    """Has any timeline moved since the latest checkpoint (is a new one worth making)?"""
    before = checkpointed_heads(session)
    count = session.scalar(select(func.count()).select_from(Incident)) or 0
    if count != len(before):
        return True
    return any(before.get(h.incident_id) != h for h in current_heads(session))
