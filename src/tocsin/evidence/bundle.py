"""The auditor's bundle: one incident's record, provable with nothing but the bundle and the
public key.

    incident.json     the incident row's covered fields and its chain head
    timeline.json     every event, with its hash, its predecessor's hash and the row digest
    checkpoint.json   the latest signed checkpoint covering the incident, the head it signed,
                      and the Merkle path from that head to the signed root
    public_key.pem    the checkpoint key's public half (compare it with the one you were given)
    evidence.json     the evidence locker's items (id, kind, title, hash, size, who, when)
    evidence/<sha256> each stored item's bytes, named by their hash (links and purged items
                      have none)
    manifest.json     SHA-256 of every file above

`verify_bundle` reads only the directory: it checks the manifest, walks the chain, replays
the row from it, checks the checkpoint's signature, and recomputes the signed root from the
incident's head. Events after the checkpoint are chained but not yet signed; it says so.
Each evidence file must hash to its name, and each item's hash must be the one its
`evidence_added` event put on the chain, so the evidence is proven by the signed chain too.
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
from tocsin.evidence import locker, merkle, signing, storage
from tocsin.evidence.checkpoints import canonical, checkpointed_heads, witness_record
from tocsin.evidence.merkle import Head
from tocsin.evidence.models import Checkpoint, EvidenceItem
from tocsin.evidence.storage import EvidenceStore
from tocsin.incidents import timeline
from tocsin.incidents.chain import STATE_FIELDS, find_break, format_instant, row_break
from tocsin.incidents.models import Incident, TimelineEvent
from tocsin.timesource import now

FILES = ("incident.json", "timeline.json", "checkpoint.json", "public_key.pem", "evidence.json")


def check_target(session: Session, *, incident_id: str, out: Path) -> Incident:
    """The incident to export, once `out` is known to be usable (created, empty)."""
    incident = session.scalar(select(Incident).where(Incident.id == incident_id))
    if incident is None:
        raise InvalidInput(f"no incident {incident_id}", field="incident")
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise InvalidInput(f"{out} is not empty", field="out")
    return incident


def record_export(session: Session, *, incident_id: str, out: Path, actor: str) -> int:
    """Put `evidence_exported` on the chain for every item the bundle will carry, before it
    is written, so the bundle's own timeline shows the export. Returns how many."""
    check_target(session, incident_id=incident_id, out=out)
    carried = [i for i in locker.items(session, incident_id) if i.purged_at is None]
    for item in carried:
        locker.record_custody(
            session,
            incident_id=incident_id,
            evidence_id=item.id,
            action="exported",
            actor=actor,
            to=f"auditor bundle {out.name}",
        )
    return len(carried)


def export(
    session: Session,
    *,
    incident_id: str,
    out: Path,
    public_key: Ed25519PublicKey | None,
    store: EvidenceStore | None = None,
) -> list[str]:
    """Write the bundle for one incident into `out` (created, must be empty); the files."""
    incident = check_target(session, incident_id=incident_id, out=out)
    events = timeline.events(session, incident.id)
    _write(out / "incident.json", _incident_json(incident))
    _write(out / "timeline.json", [_event_json(e) for e in events])
    _write(out / "checkpoint.json", _checkpoint_json(session, incident.id))
    pem = signing.public_pem(public_key) if public_key else b""
    (out / "public_key.pem").write_bytes(pem)
    carried = _write_evidence(session, incident.id, out, store or storage.configured())
    _write(out / "manifest.json", _manifest(out, incident.id, carried))
    return [*FILES, *carried, "manifest.json"]


def _write_evidence(
    session: Session, incident_id: str, out: Path, store: EvidenceStore
) -> list[str]:
    """evidence.json and each stored item's bytes under evidence/; the files written."""
    items = locker.items(session, incident_id)
    files: list[str] = []
    for item in items:
        name = f"evidence/{item.sha256}"
        if item.kind in locker.STORED_KINDS and item.purged_at is None and name not in files:
            (out / "evidence").mkdir(exist_ok=True)
            with (out / name).open("wb") as copy:
                for chunk in store.chunks(item.sha256):
                    copy.write(chunk)
            files.append(name)
    _write(out / "evidence.json", [_evidence_json(i) for i in items])
    return files


def _evidence_json(item: EvidenceItem) -> dict[str, Any]:
    stored = item.kind in locker.STORED_KINDS and item.purged_at is None
    return {
        "id": item.id,
        "kind": item.kind,
        "title": item.title,
        "filename": item.filename,
        "url": item.url,
        "sha256": item.sha256,
        "size": item.size,
        "added_by": item.added_by,
        "added_at": format_instant(item.added_at),
        "retention_class": item.retention_class,
        "purged_at": format_instant(item.purged_at) if item.purged_at else None,
        "file": f"evidence/{item.sha256}" if stored else None,
    }


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


def _manifest(out: Path, incident_id: str, carried: list[str]) -> dict[str, Any]:
    digests = {name: _file_digest(out / name) for name in (*FILES, *carried)}
    return {"incident": incident_id, "exported_at": format_instant(now()), "files": digests}


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


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
    report.problems += _evidence_problems(directory, events, report.notes)
    return report


def _evidence_problems(directory: Path, events: list[Any], notes: list[str]) -> list[str]:
    """Each item's hash is the one the chain recorded; each file hashes to it."""
    path = directory / "evidence.json"
    if not path.exists():  # a bundle from before the locker
        return []
    chained = {
        e.data.get("evidence_id"): e.data.get("sha256")
        for e in events
        if e.kind == "evidence_added"
    }
    problems: list[str] = []
    items = json.loads(path.read_text())
    for item in items:
        where = f"evidence #{item['id']} ({item['title']})"
        if chained.get(item["id"]) != item["sha256"]:
            problems.append(f"{where}: its SHA-256 is not the one its timeline recorded")
        elif item["file"] is not None:
            problems += _evidence_file_problems(directory, item, where)
    missing = sorted(set(chained) - {item["id"] for item in items})
    problems += [f"evidence #{i} is on the timeline but not in the bundle" for i in missing]
    if items and not problems:
        notes.append(f"{len(items)} evidence item(s) match the hashes on their timeline")
    return problems


def _evidence_file_problems(directory: Path, item: dict[str, Any], where: str) -> list[str]:
    path = directory / str(item["file"])
    if path.name != item["sha256"] or path.parent.name != "evidence":
        return [f"{where}: its file is not named by its hash"]
    if not path.exists():
        return [f"{where}: its file {item['file']} is missing"]
    if _file_digest(path) != item["sha256"]:
        return [f"{where}: {item['file']} does not hash to its SHA-256 (altered)"]
    return []


def _manifest_problems(directory: Path) -> list[str]:
    manifest = json.loads((directory / "manifest.json").read_text())
    problems = []
    for name, digest in manifest["files"].items():
        path = directory / name
        if not path.exists() or _file_digest(path) != digest:
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
