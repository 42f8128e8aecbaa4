"""The evidence locker on S3-compatible object storage (moto's server, over a socket), on
SQLite and PostgreSQL: stored by hash, downloaded streamed, exported, verified, purged; and
clear errors that name the setting and the bucket, never a credential."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest
import time_machine
from typer.testing import CliRunner

from tests.conftest import S3_CREDENTIALS, S3Bucket
from tocsin.cli import app
from tocsin.db import Database
from tocsin.engine.retention import RetentionStep
from tocsin.errors import NotFound, TooLarge, Unavailable
from tocsin.evidence import locker, s3, signing, storage
from tocsin.evidence.locker import Attachment
from tocsin.evidence.s3store import S3Store
from tocsin.flows import incidents as flows
from tocsin.incidents.service import Declaration
from tocsin.policy.loader import load_policy

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
LOG = b"2026-11-20T09:58:01Z sshd[812]: Accepted publickey for root\n\x00\xff" * 1000
DIGEST = hashlib.sha256(LOG).hexdigest()


@pytest.fixture
def s3_store(s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch) -> S3Store:
    monkeypatch.setenv("TOCSIN_EVIDENCE_STORE", f"s3://{s3_bucket.name}/locker/")
    store = storage.configured()
    assert isinstance(store, S3Store)
    return store


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def incident_id(database: Database, clock: time_machine.Coordinates) -> str:
    with database.write_session() as session:
        declaration = Declaration(title="Breach", severity="P0", type="security")
        return flows.declare(
            session, loaded=load_policy("proofkit"), declaration=declaration, actor="sec"
        ).id


def attach(database: Database, store: storage.EvidenceStore, incident_id: str, **kw: str) -> int:
    stored = store.put(BytesIO(LOG))
    attachment = Attachment(kind="log_export", title="auth.log", filename="auth.log", **kw)
    with database.write_session() as session:
        return locker.add(
            session, incident_id=incident_id, attachment=attachment, stored=stored, actor="sec"
        ).id


def test_evidence_is_stored_under_its_hash_and_read_back_streamed(
    database: Database, s3_store: S3Store, s3_bucket: S3Bucket, incident_id: str
) -> None:
    attach(database, s3_store, incident_id)
    key = f"locker/{DIGEST}"
    body = s3_bucket.client.get_object(Bucket=s3_bucket.name, Key=key)["Body"].read()
    assert body == LOG
    assert s3_store.exists(DIGEST) and s3_store.digest_of(DIGEST) == DIGEST
    assert b"".join(s3_store.chunks(DIGEST)) == LOG
    # The same bytes attached twice are kept once.
    attach(database, s3_store, incident_id)
    listed = s3_bucket.client.list_objects_v2(Bucket=s3_bucket.name, Prefix="locker/")
    assert [o["Key"] for o in listed["Contents"]] == [key]
    with pytest.raises(NotFound, match="missing from s3://"):
        s3_store.open("0" * 64)
    assert s3_store.digest_of("0" * 64) is None


def test_the_size_limit_holds_and_nothing_is_uploaded(
    s3_store: S3Store, s3_bucket: S3Bucket
) -> None:
    with pytest.raises(TooLarge):
        s3_store.put(BytesIO(LOG), limit=100)
    assert "Contents" not in s3_bucket.client.list_objects_v2(Bucket=s3_bucket.name)


def test_export_and_verify_fetch_from_the_bucket_and_catch_an_altered_object(
    database: Database,
    s3_store: S3Store,
    s3_bucket: S3Bucket,
    incident_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = tmp_path / "checkpoint.key"
    signing.generate(key)
    public = tmp_path / "checkpoint.pub"
    public.write_bytes(signing.public_pem(signing.load_private(key).public_key()))
    monkeypatch.setenv("TOCSIN_DATABASE_URL", database.url)
    monkeypatch.setenv("TOCSIN_CHECKPOINT_KEY", str(key))
    monkeypatch.setenv("TOCSIN_EVIDENCE_DIR", str(tmp_path / "not-used"))
    attach(database, s3_store, incident_id)
    runner = CliRunner()
    assert runner.invoke(app, ["checkpoint", "create"]).exit_code == 0
    out = tmp_path / "bundle"
    result = runner.invoke(app, ["evidence", "export", incident_id, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "evidence" / DIGEST).read_bytes() == LOG
    result = runner.invoke(app, ["evidence", "verify", str(out), "--public-key", str(public)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "not-used").exists()

    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=f"locker/{DIGEST}", Body=b"forged")
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 1
    assert "does not hash to its SHA-256 (altered)" in result.output
    s3_bucket.client.delete_object(Bucket=s3_bucket.name, Key=f"locker/{DIGEST}")
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 1
    assert f"its file is missing from s3://{s3_bucket.name}/locker" in result.output


def test_retention_purges_the_object_from_the_bucket(
    database: Database,
    s3_store: S3Store,
    s3_bucket: S3Bucket,
    incident_id: str,
    clock: time_machine.Coordinates,
) -> None:
    attach(database, s3_store, incident_id, retention_class="application_logs")
    clock.move_to(T0 + timedelta(days=91))
    assert RetentionStep().run_due(database) == 1
    assert not s3_store.exists(DIGEST)


def test_a_versioned_bucket_keeps_no_old_version_after_a_purge(
    s3_locked_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = S3Store(s3.Location(s3_locked_bucket.name, "x", "TOCSIN_EVIDENCE_STORE"))
    stored = store.put(BytesIO(LOG))
    store.delete(stored.sha256)
    listed = s3_locked_bucket.client.list_object_versions(Bucket=s3_locked_bucket.name)
    assert not listed.get("Versions") and not listed.get("DeleteMarkers")


def test_an_unknown_bucket_is_named_with_its_setting(
    s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOCSIN_EVIDENCE_STORE", "s3://no-such-bucket-here/p")
    store = storage.configured()
    with pytest.raises(Unavailable) as refused:
        store.put(BytesIO(b"x"))
    message = refused.value.message
    assert "TOCSIN_EVIDENCE_STORE" in message and "'no-such-bucket-here'" in message
    assert "does not exist" in message
    with pytest.raises(Unavailable, match="does not exist"):
        S3Store.configured("s3://no-such-bucket-here").check()


def test_bad_credentials_give_a_clear_error_without_the_secret(
    s3_store: S3Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto import settings

    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # moto checks keys now
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-do-not-print")
    with pytest.raises(Unavailable) as refused:
        s3_store.put(BytesIO(b"x"))
    message = refused.value.message
    assert "refused the credentials" in message and "TOCSIN_EVIDENCE_STORE" in message
    assert "wrong-secret-do-not-print" not in message
    assert S3_CREDENTIALS["AWS_ACCESS_KEY_ID"] not in message


def test_no_credentials_at_all_say_which_to_set(
    s3_store: S3Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(Unavailable, match="no S3 credentials were found"):
        s3_store.exists(DIGEST)


def test_a_malformed_store_url_is_refused() -> None:
    with pytest.raises(Exception, match="TOCSIN_EVIDENCE_STORE"):
        S3Store.configured("s3://key:secret@bucket/p")
