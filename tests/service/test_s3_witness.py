"""The S3 checkpoint witness (moto's server with object lock, over a socket), on SQLite and
PostgreSQL: each checkpoint an object with a retention, read back and compared by
`tocsin verify`; a bucket without object lock, or unknown, refused naming the setting."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete
from typer.testing import CliRunner

from tests.conftest import S3Bucket
from tocsin.cli import app
from tocsin.db import Database
from tocsin.evidence import signing
from tocsin.evidence.models import Checkpoint
from tocsin.flows import incidents as flows
from tocsin.incidents.service import Declaration
from tocsin.policy.loader import load_policy


@pytest.fixture
def signed(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A database with one incident, a signing key in the environment: the public key."""
    key = tmp_path / "checkpoint.key"
    signing.generate(key)
    public = tmp_path / "checkpoint.pub"
    public.write_bytes(signing.public_pem(signing.load_private(key).public_key()))
    monkeypatch.setenv("TOCSIN_DATABASE_URL", database.url)
    monkeypatch.setenv("TOCSIN_CHECKPOINT_KEY", str(key))
    with database.write_session() as session:
        flows.declare(
            session,
            loaded=load_policy("proofkit"),
            declaration=Declaration(title="Breach", severity="P0", type="security"),
            actor="sec",
        )
    return public


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_each_checkpoint_is_an_object_locked_until_its_retention(
    signed: Path,
    s3_locked_bucket: S3Bucket,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = s3_locked_bucket
    monkeypatch.setenv("TOCSIN_WITNESS", f"s3://{bucket.name}/tocsin/witness")
    monkeypatch.setenv("TOCSIN_WITNESS_S3_LOCK_MODE", "governance")
    monkeypatch.setenv("TOCSIN_WITNESS_S3_RETAIN_DAYS", "30")
    code, output = run("checkpoint", "create")
    assert code == 0, output
    code, output = run("checkpoint", "create", "--force")
    assert code == 0, output
    listed = bucket.client.list_objects_v2(Bucket=bucket.name, Prefix="tocsin/witness/")
    keys = [o["Key"] for o in listed["Contents"]]
    assert keys == [
        "tocsin/witness/checkpoint-0000000001.json",
        "tocsin/witness/checkpoint-0000000002.json",
    ]
    head = bucket.client.head_object(Bucket=bucket.name, Key=keys[0])
    assert head["ObjectLockMode"] == "GOVERNANCE"
    until = head["ObjectLockRetainUntilDate"]
    expected = datetime.now(UTC) + timedelta(days=30)
    assert abs((until - expected).total_seconds()) < 120
    record = json.loads(bucket.client.get_object(Bucket=bucket.name, Key=keys[0])["Body"].read())
    assert record["number"] == 1 and record["signature"]

    code, output = run("verify", "--public-key", str(signed))
    assert code == 0, output
    assert "2 checkpoints, 2 witnessed" in output


def test_the_default_is_compliance_for_400_days(
    signed: Path, s3_locked_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3_locked_bucket
    monkeypatch.setenv("TOCSIN_WITNESS", f"s3://{bucket.name}")
    assert run("checkpoint", "create")[0] == 0
    head = bucket.client.head_object(Bucket=bucket.name, Key="checkpoint-0000000001.json")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    days = (head["ObjectLockRetainUntilDate"] - datetime.now(UTC)).days
    assert days in (399, 400)


def test_verify_catches_a_deleted_checkpoint_and_an_overwritten_object(
    database: Database,
    signed: Path,
    s3_locked_bucket: S3Bucket,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = s3_locked_bucket
    url = f"s3://{bucket.name}/w"
    monkeypatch.setenv("TOCSIN_WITNESS", url)
    assert run("checkpoint", "create")[0] == 0
    assert run("checkpoint", "create", "--force")[0] == 0

    # Someone overwrites the witness object: the locked original stays as an older version.
    key = "w/checkpoint-0000000001.json"
    forged = json.loads(bucket.client.get_object(Bucket=bucket.name, Key=key)["Body"].read())
    forged["root"] = "0" * 64
    bucket.client.put_object(Bucket=bucket.name, Key=key, Body=json.dumps(forged).encode())
    code, output = run("verify", "--public-key", str(signed), "--json")
    assert code == 1
    findings = json.loads(output)["findings"]
    assert {
        "kind": "witness",
        "where": f"witness {url}",
        "detail": "checkpoint #1 in the database differs from its witness (rewritten)",
    } in [{k: f[k] for k in ("kind", "where", "detail")} for f in findings]

    # A database administrator deletes the latest checkpoint: the bucket still has it.
    bucket.client.delete_object(Bucket=bucket.name, Key=key)  # a delete marker only
    with database.write_session() as session:
        session.execute(delete(Checkpoint).where(Checkpoint.number == 2))
    code, output = run("verify", "--public-key", str(signed))
    assert code == 1
    assert "checkpoint #2 is witnessed but not in the database (deleted)" in output
    assert f"witness {url}" in output


def test_a_bucket_without_object_lock_is_refused_naming_the_setting(
    signed: Path, s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOCSIN_WITNESS", f"s3://{s3_bucket.name}/w")
    code, output = run("checkpoint", "create")
    assert code == 2
    assert "TOCSIN_WITNESS" in output and s3_bucket.name in output
    assert "no object lock configuration" in output
    assert "Contents" not in s3_bucket.client.list_objects_v2(Bucket=s3_bucket.name)


def test_an_unknown_bucket_or_a_bad_mode_is_refused(
    signed: Path, s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOCSIN_WITNESS", "s3://no-such-witness-bucket/w")
    code, output = run("checkpoint", "create")
    assert code == 2
    assert "TOCSIN_WITNESS: bucket 'no-such-witness-bucket'" in output
    assert "tocsin-test-secret" not in output
    monkeypatch.setenv("TOCSIN_WITNESS", f"s3://{s3_bucket.name}/w")
    monkeypatch.setenv("TOCSIN_WITNESS_S3_LOCK_MODE", "forever")
    code, output = run("checkpoint", "create")
    assert code == 2 and "TOCSIN_WITNESS_S3_LOCK_MODE must be COMPLIANCE or GOVERNANCE" in output
