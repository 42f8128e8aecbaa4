"""Verification: every timeline, the incident rows, the signed checkpoints and the witnesses,
each finding naming where the record diverges. Reading only; docs/audit.md says what it
catches and what it cannot."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.errors import TocsinError
from tocsin.evidence import merkle, signing, storage, witness
from tocsin.evidence.checkpoints import heads_digest, signed_payload, witness_record
from tocsin.evidence.locker import STORED_KINDS
from tocsin.evidence.merkle import Head
from tocsin.evidence.models import Checkpoint, EvidenceItem
from tocsin.evidence.storage import EvidenceStore
from tocsin.incidents import timeline
from tocsin.incidents.chain import ChainBreak
from tocsin.incidents.models import Incident, TimelineEvent


@dataclass(frozen=True)
class Finding:
    """One divergence: what kind, where (an incident, a checkpoint, a witness), and how."""

    kind: str  # chain, row, checkpoint, deleted, rewritten, witness, unsigned, evidence
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.detail}"

    def as_json(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Report:
    incidents: int = 0
    checkpoints: int = 0
    witnessed: int = 0
    findings: list[Finding] | None = None

    @property
    def intact(self) -> bool:
        return not self.findings


def verify(
    session: Session,
    *,
    public_key: Ed25519PublicKey | None,
    witness_files: list[Path],
    store: EvidenceStore | None = None,
    witness_buckets: Sequence[str] = (),
) -> Report:
    """1. Each chain and its incident row. 2. Each checkpoint: its signature, its link to the
    one before, and the heads it signed against the chains as they are now. 3. Each witness
    record against the database's checkpoint of the same number. 4. Each piece of evidence:
    its hash against its chain's, and its stored bytes against that hash."""
    report = Report(findings=[])
    assert report.findings is not None
    for incident, chain_break in timeline.verify_all(session):
        report.incidents += 1
        if chain_break is not None:
            report.findings.append(_chain_finding(incident.id, chain_break))
    checkpoints = list(session.scalars(select(Checkpoint).order_by(Checkpoint.number)))
    report.checkpoints = len(checkpoints)
    report.findings += list(_checkpoint_findings(session, checkpoints, public_key))
    for path in witness_files:
        found, count = _witness_findings(path, checkpoints)
        report.witnessed += count
        report.findings += found
    for url in witness_buckets:
        found, count = _bucket_findings(url, checkpoints)
        report.witnessed += count
        report.findings += found
    report.findings += list(_evidence_findings(session, store or storage.configured()))
    return report


def _evidence_findings(session: Session, store: EvidenceStore) -> Iterator[Finding]:
    added = select(TimelineEvent).where(TimelineEvent.kind == "evidence_added")
    chained = {(e.incident_id, e.data.get("evidence_id")): e.data for e in session.scalars(added)}
    for item in session.scalars(select(EvidenceItem).order_by(EvidenceItem.id)):
        where = f"evidence #{item.id} of {item.incident_id}"
        recorded = chained.get((item.incident_id, item.id))
        if recorded is None:
            yield Finding("evidence", where, "it is not on its incident's timeline")
        elif recorded.get("sha256") != item.sha256:
            yield Finding("evidence", where, "its SHA-256 is not the one its timeline recorded")
        elif item.kind in STORED_KINDS and item.purged_at is None:
            yield from _stored_findings(store, item, where)


def _stored_findings(store: EvidenceStore, item: EvidenceItem, where: str) -> Iterator[Finding]:
    try:
        found = store.digest_of(item.sha256)
    except TocsinError as exc:  # the store cannot be read: a finding, not a crash
        yield Finding("evidence", where, exc.message)
        return
    if found is None:
        yield Finding("evidence", where, f"its file is missing from {store.where}")
    elif found != item.sha256:
        yield Finding("evidence", where, "its stored file does not hash to its SHA-256 (altered)")


def _chain_finding(incident_id: str, chain_break: ChainBreak) -> Finding:
    if chain_break.seq == 0:  # the row, not an event, diverges
        return Finding("row", incident_id, chain_break.reason)
    return Finding("chain", incident_id, f"event #{chain_break.seq}: {chain_break.reason}")


def _checkpoint_findings(
    session: Session, checkpoints: list[Checkpoint], public_key: Ed25519PublicKey | None
) -> Iterator[Finding]:
    previous: Checkpoint | None = None
    signed: dict[str, Head] = {}
    for checkpoint in checkpoints:
        where = f"checkpoint #{checkpoint.number}"
        yield from _seal_findings(checkpoint, previous, public_key, where)
        for incident_id, seq, digest in checkpoint.heads:
            signed[incident_id] = Head(incident_id, seq, digest)
        if merkle.root(list(signed.values())) != checkpoint.root:
            yield Finding("checkpoint", where, "its heads do not add up to its signed root")
        previous = checkpoint
    yield from _heads_findings(session, signed)


def _seal_findings(
    checkpoint: Checkpoint,
    previous: Checkpoint | None,
    public_key: Ed25519PublicKey | None,
    where: str,
) -> Iterator[Finding]:
    payload = signed_payload(checkpoint)
    if hashlib.sha256(payload).hexdigest() != checkpoint.digest:
        yield Finding("checkpoint", where, "its content does not match its digest")
    if heads_digest(checkpoint.heads) != checkpoint.heads_digest:
        yield Finding("checkpoint", where, "its list of heads was changed after signing")
    if public_key is not None and not signing.valid(public_key, payload, checkpoint.signature):
        yield Finding("checkpoint", where, "its signature is not valid for this public key")
    expected = previous.digest if previous else None
    if checkpoint.previous != expected:
        yield Finding("checkpoint", where, "it does not follow the checkpoint before it")


def _heads_findings(session: Session, signed: dict[str, Head]) -> Iterator[Finding]:
    """Every signed head must still be in its chain: same event number, same hash."""
    existing = set(session.scalars(select(Incident.id)))
    for incident_id, head in sorted(signed.items()):
        if incident_id not in existing:
            yield Finding("deleted", incident_id, "a signed incident is missing (deleted)")
            continue
        now_hash = session.scalar(
            select(TimelineEvent.hash).where(
                TimelineEvent.incident_id == incident_id, TimelineEvent.seq == head.seq
            )
        )
        if now_hash is None:
            yield Finding(
                "rewritten", incident_id, f"event #{head.seq}, signed in a checkpoint, is gone"
            )
        elif now_hash != head.hash:
            yield Finding(
                "rewritten",
                incident_id,
                f"event #{head.seq} differs from the one a checkpoint signed (history rewritten)",
            )


def _witness_findings(path: Path, checkpoints: list[Checkpoint]) -> tuple[list[Finding], int]:
    where = f"witness {path}"
    if not path.exists():
        return [Finding("witness", where, "the witness file is missing")], 0
    return _compare(witness.read(path), checkpoints, where)


def _bucket_findings(url: str, checkpoints: list[Checkpoint]) -> tuple[list[Finding], int]:
    """An S3 witness: every version of every checkpoint object under its prefix."""
    from tocsin.evidence import s3witness  # boto3 is loaded only when used

    where = f"witness {url}"
    try:
        records = list(s3witness.Bucket.configured(url).read())
    except TocsinError as exc:
        return [Finding("witness", where, exc.message)], 0
    return _compare(iter(records), checkpoints, where)


def _compare(
    records: Iterator[dict[str, Any]], checkpoints: list[Checkpoint], where: str
) -> tuple[list[Finding], int]:
    by_number = {c.number: witness_record(c) for c in checkpoints}
    findings: list[Finding] = []
    seen: set[int] = set()
    for record in records:
        findings += _witness_record_findings(record, by_number, where)
        if isinstance(record.get("number"), int):
            seen.add(record["number"])
    for number in sorted(set(by_number) - seen):
        findings.append(Finding("unsigned", where, f"checkpoint #{number} was never witnessed"))
    return findings, len(seen)


def _witness_record_findings(
    record: dict[str, Any], by_number: dict[int, dict[str, Any]], where: str
) -> list[Finding]:
    if "unreadable_line" in record:
        unreadable = record["unreadable_line"]
        what = f"object {unreadable}" if isinstance(unreadable, str) else f"line {unreadable}"
        return [Finding("witness", where, f"{what} is not a record")]
    number = record.get("number")
    stored = by_number.get(number) if isinstance(number, int) else None
    if stored is None:
        detail = f"checkpoint #{number} is witnessed but not in the database (deleted)"
        return [Finding("witness", where, detail)]
    if stored != record:
        detail = f"checkpoint #{number} in the database differs from its witness (rewritten)"
        return [Finding("witness", where, detail)]
    return []
