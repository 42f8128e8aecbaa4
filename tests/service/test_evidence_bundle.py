"""The auditor's bundle carries the evidence: its files, named by their hashes, proven by the
`evidence_added` events of the signed chain (SQLite and PostgreSQL for the export)."""

from __future__ import annotations

import hashlib
import json
from io import BytesIO
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.db import Database
from tocsin.evidence import locker, signing
from tocsin.evidence.locker import Attachment
from tocsin.evidence.storage import LocalStore
from tocsin.flows import incidents as flows
from tocsin.incidents import timeline
from tocsin.incidents.service import Declaration
from tocsin.policy.loader import load_policy

EXPORT = b"ts,user,action\n2026-11-20T09:58Z,root,login\n"


@pytest.fixture
def exported(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, Path, Path]:
    """A breach with a log export and a link, checkpointed and exported: (id, bundle, pub)."""
    key = tmp_path / "checkpoint.key"
    signing.generate(key)
    public = tmp_path / "checkpoint.pub"
    public.write_bytes(signing.public_pem(signing.load_private(key).public_key()))
    monkeypatch.setenv("TOCSIN_DATABASE_URL", database.url)
    monkeypatch.setenv("TOCSIN_CHECKPOINT_KEY", str(key))
    monkeypatch.setenv("TOCSIN_EVIDENCE_DIR", str(tmp_path / "locker"))
    stored = LocalStore.configured().put(BytesIO(EXPORT))
    with database.write_session() as session:
        incident = flows.declare(
            session,
            loaded=load_policy("proofkit"),
            declaration=Declaration(title="Breach", severity="P0", type="security"),
            actor="sec",
        )
        log = Attachment(kind="log_export", title="auth log", filename="auth.csv")
        locker.add(session, incident_id=incident.id, attachment=log, stored=stored, actor="sec")
        link = Attachment(kind="link", title="SIEM", url="https://siem.example.com/q/1")
        locker.add(session, incident_id=incident.id, attachment=link, stored=None, actor="sec")
        incident_id = incident.id
    assert CliRunner().invoke(app, ["checkpoint", "create"]).exit_code == 0
    out = tmp_path / "bundle"
    result = CliRunner().invoke(app, ["evidence", "export", incident_id, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 evidence item(s) exported" in result.output
    return incident_id, out, public


def verify(out: Path, public: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["evidence", "verify", str(out), "--public-key", str(public)])
    return result.exit_code, result.output


def test_the_bundle_carries_the_evidence_and_verifies(
    database: Database, exported: tuple[str, Path, Path]
) -> None:
    incident_id, out, public = exported
    digest = hashlib.sha256(EXPORT).hexdigest()
    assert (out / "evidence" / digest).read_bytes() == EXPORT
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"][f"evidence/{digest}"] == digest
    items = json.loads((out / "evidence.json").read_text())
    assert [(i["kind"], i["file"]) for i in items] == [
        ("log_export", f"evidence/{digest}"),
        ("link", None),
    ]
    code, output = verify(out, public)
    assert code == 0, output
    assert "2 evidence item(s) match the hashes on their timeline" in output
    assert "event(s) after the checkpoint are chained but not yet signed" in output
    with database.read_session() as session:
        kinds = [e.kind for e in timeline.events(session, incident_id)]
    assert kinds.count("evidence_exported") == 2


def test_an_altered_evidence_file_is_caught_even_with_a_rewritten_manifest(
    exported: tuple[str, Path, Path],
) -> None:
    _, out, public = exported
    digest = hashlib.sha256(EXPORT).hexdigest()
    path = out / "evidence" / digest
    path.chmod(0o600)
    path.write_bytes(EXPORT.replace(b"root", b"bob "))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"][f"evidence/{digest}"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (out / "manifest.json").write_text(json.dumps(manifest))
    code, output = verify(out, public)
    assert code == 1
    assert "does not hash to its SHA-256 (altered)" in output


def test_a_swapped_evidence_hash_disagrees_with_the_chain(
    exported: tuple[str, Path, Path],
) -> None:
    _, out, public = exported
    forged = b"nothing happened\n"
    forged_digest = hashlib.sha256(forged).hexdigest()
    (out / "evidence" / forged_digest).write_bytes(forged)
    items = json.loads((out / "evidence.json").read_text())
    items[0].update(sha256=forged_digest, file=f"evidence/{forged_digest}", size=len(forged))
    (out / "evidence.json").write_text(json.dumps(items))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"]["evidence.json"] = hashlib.sha256(
        (out / "evidence.json").read_bytes()
    ).hexdigest()
    (out / "manifest.json").write_text(json.dumps(manifest))
    code, output = verify(out, public)
    assert code == 1
    assert "its SHA-256 is not the one its timeline recorded" in output
