"""The auditor's bundle: one incident's record, provable with nothing but the bundle and the
public key.

    incident.json     the incident row's covered fields and its chain head
    timeline.json     every event, with its hash, its predecessor's hash and the row digest
    checkpoint.json   the latest signed checkpoint covering the incident, the head it signed,
                      and the Merkle path from that head to the signed root
    public_key.pem    the checkpoint key's public half (compare it with the one you were given)
    manifest.json     SHA-256 of every file above

`verify_bundle` reads only the directory: it checks the manifest, walks the chain, replays
the row from it, checks the checkpoint's signature, and recomputes the signed root from the
incident's head. Events after the checkpoint are chained but not yet signed; it says so.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.errors import InvalidInput
from tocsin.evidence import merkle, signing
from tocsin.evidence.checkpoints import canonical, checkpointed_heads, witness_record
from tocsin.evidence.merkle import Head
from tocsin.evidence.models import Checkpoint
from tocsin.incidents import timeline
from tocsin.incidents.chain import STATE_FIELDS, find_break, format_instant, row_break
from tocsin.incidents.models import Incident, TimelineEvent
from tocsin.timesource import now

FILES = ("incident.json", "timeline.json", "checkpoint.json", "public_key.pem")


def export(
    session: Session, *, incident_id: str, out: Path, public_key: Ed25519PublicKey | None
) -> list[str]:
    """Write the bundle for one incident into `out` (created, must be empty); the files."""
    incident = session.scalar(select(Incident).where(Incident.id == incident_id))
    if incident is None:
        raise InvalidInput(f"no incident {incident_id}", field="incident")
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise InvalidInput(f"{out} is not empty", field="out")
    events = timeline.events(session, incident.id)
    _write(out / "incident.json", _incident_json(incident))
    _write(out / "timeline.json", [_event_json(e) for e in events])
    _write(out / "checkpoint.json", _checkpoint_json(session, incident.id))
    pem = signing.public_pem(public_key) if public_key else b""
    (out / "public_key.pem").write_bytes(pem)
    _write(out / "manifest.json", _manifest(out, incident.id))
    return [*FILES, "manifest.json"]


def _write(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def _plain(value: Any) -> Any:
    return format_instant(value) if hasattr(value, "isoformat") else value


def _incident_json(incident: Incident) -> dict[str, Any]:
    found = {name: _plain(getattr(incident, name)) for name in STATE_FIELDS}
    found.update(last_event_seq=incident.last_event_seq, last_event_hash=incident.last_event_hash)
    return found


def _event_json(event: TimelineEvent) -> dict[str, Any]:
    return {
        "incident_id": event.incident_id,
        "seq": event.seq,
        "kind": event.kind,
        "at": format_instant(event.at),
        "actor": event.actor,
        "data": event.data,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "state_hash": event.state_hash,
    }


def _checkpoint_json(session: Session, incident_id: str) -> dict[str, Any] | None:
    """The latest checkpoint and the incident's head in it, with its Merkle path."""
    heads = checkpointed_heads(session)
    if incident_id not in heads:
        return None
    checkpoint = session.scalar(select(Checkpoint).order_by(Checkpoint.number.desc()).limit(1))
    assert checkpoint is not None
    head = heads[incident_id]
    return {
        "record": witness_record(checkpoint),
        "head": {"seq": head.seq, "hash": head.hash},
        "proof": merkle.proof(list(heads.values()), incident_id),
    }


def _manifest(out: Path, incident_id: str) -> dict[str, Any]:
    digests = {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in FILES}
    return {"incident": incident_id, "exported_at": format_instant(now()), "files": digests}


@dataclass
class BundleReport:
    problems: list[str]
    notes: list[str]

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_bundle(directory: Path, public_key: Ed25519PublicKey) -> BundleReport:
    """Check a bundle with nothing but itself and the public key."""
    report = BundleReport([], [])
    report.problems += _manifest_problems(directory)
    if report.problems:
        return report
    incident = json.loads((directory / "incident.json").read_text())
    events = [SimpleNamespace(**e) for e in json.loads((directory / "timeline.json").read_text())]
    for event in events:
        event.at = _instant(event.at)
    report.problems += _chain_problems(incident, events)
    checkpoint = json.loads((directory / "checkpoint.json").read_text())
    report.problems += _checkpoint_problems(checkpoint, events, public_key, report.notes)
    return report


def _manifest_problems(directory: Path) -> list[str]:
    manifest = json.loads((directory / "manifest.json").read_text())
    problems = []
    for name, digest in manifest["files"].items():
        path = directory / name
        if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(f"{name} does not match the manifest")
    return problems


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _chain_problems(incident: dict[str, Any], events: list[Any]) -> list[str]:
    found = find_break(
        incident["id"],
        events,
        head_seq=incident["last_event_seq"],
        head_hash=incident["last_event_hash"],
    )
    row = SimpleNamespace(**{k: _revive(k, v) for k, v in incident.items()})
    found = found or row_break(incident["id"], row, events)
    return [] if found is None else [str(found)]


def _revive(name: str, value: Any) -> Any:
    return _instant(value) if name.endswith("_at") and isinstance(value, str) else value


def _checkpoint_problems(
    checkpoint: dict[str, Any] | None,
    events: list[Any],
    public_key: Ed25519PublicKey,
    notes: list[str],
) -> list[str]:
    if checkpoint is None:
        notes.append("no checkpoint covers this incident yet: its chain is not signed")
        return []
    record = dict(checkpoint["record"])
    signature = record.pop("signature")
    record.pop("digest")
    problems = []
    if not signing.valid(public_key, canonical(record), signature):
        problems.append("the checkpoint's signature is not valid for this public key")
    head = Head(events[0].incident_id if events else "", **checkpoint["head"])
    signed_event = next((e for e in events if e.seq == head.seq), None)
    if signed_event is None or signed_event.hash != head.hash:
        problems.append(f"event #{head.seq} is not the one the checkpoint signed")
    if merkle.root_from_proof(head, checkpoint["proof"]) != record["root"]:
        problems.append("the incident's head is not under the checkpoint's signed root")
    later = len(events) - head.seq
    if later > 0:
        notes.append(f"{later} event(s) after the checkpoint are chained but not yet signed")
    return problems
