"""Evidence and checkpoint witnesses in S3-compatible object storage, against a real
`tocsin serve` (its engine on) and a local S3 server (moto), both over sockets."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import S3Bucket
from tests.e2e.conftest import BIN, Server, start_server, stop_server
from tocsin.db import Database

pytestmark = pytest.mark.e2e


@pytest.fixture
def s3_server(
    database: Database, tmp_path: Path, s3_bucket: S3Bucket, s3_locked_bucket: S3Bucket
) -> Iterator[Server]:
    key = tmp_path / "checkpoint.key"
    made = subprocess.run(
        [str(BIN / "tocsin"), "checkpoint", "keygen", "--out", str(key)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    env = {
        **s3_bucket.env,
        "TOCSIN_EVIDENCE_STORE": f"s3://{s3_bucket.name}/evidence",
        "TOCSIN_EVIDENCE_DIR": str(tmp_path / "unused-locker"),
        "TOCSIN_WITNESS": f"s3://{s3_locked_bucket.name}/witness",
        "TOCSIN_WITNESS_S3_LOCK_MODE": "GOVERNANCE",
        "TOCSIN_CHECKPOINT_KEY": str(key),
        "TOCSIN_CHECKPOINT_INTERVAL": "0.5",
    }
    server = start_server(database.url, tmp_path, policy="proofkit", extra_env=env)
    yield server
    stop_server(server)


def test_evidence_uploaded_through_the_api_lands_in_the_bucket_and_is_witnessed(
    s3_server: Server, s3_bucket: S3Bucket, s3_locked_bucket: S3Bucket, tmp_path: Path
) -> None:
    server = s3_server
    data = b"09:58:01 sshd: Accepted publickey for root\n\x00\xff" * 5000
    digest = hashlib.sha256(data).hexdigest()
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        incident = client.post(
            "/api/v1/incidents", json={"title": "Breach", "severity": "P0", "type": "security"}
        ).json()
        added = client.post(
            f"/api/v1/incidents/{incident['id']}/evidence",
            data={"kind": "log_export", "title": "auth log"},
            files={"file": ("auth.log", data, "text/plain")},
        )
        assert added.status_code == 201, added.text
        item = added.json()
        assert item["sha256"] == digest
        stored = s3_bucket.client.get_object(Bucket=s3_bucket.name, Key=f"evidence/{digest}")
        assert stored["Body"].read() == data
        content = client.get(f"/api/v1/incidents/{incident['id']}/evidence/{item['id']}/content")
        assert content.status_code == 200 and content.content == data
        assert content.headers["x-content-sha256"] == digest
    assert not (tmp_path / "unused-locker").exists()

    def witnessed() -> list[str]:
        listed = s3_locked_bucket.client.list_objects_v2(
            Bucket=s3_locked_bucket.name, Prefix="witness/"
        )
        return [o["Key"] for o in listed.get("Contents", [])]

    deadline = time.monotonic() + 30
    while not witnessed() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert witnessed(), "\n".join(server.log)
    head = s3_locked_bucket.client.head_object(Bucket=s3_locked_bucket.name, Key=witnessed()[0])
    assert head["ObjectLockMode"] == "GOVERNANCE"

    checked = server.cli("verify", "--json")
    report = json.loads(checked.stdout)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert report["witnessed"] >= 1 and report["findings"] == []
    out = tmp_path / "bundle"
    exported = server.cli("evidence", "export", incident["id"], "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    assert (out / "evidence" / digest).read_bytes() == data
    assert "tocsin-test-secret" not in "\n".join(server.log)


def test_serve_refuses_a_witness_bucket_without_object_lock(
    database: Database, tmp_path: Path, s3_bucket: S3Bucket
) -> None:
    env = {
        **os.environ,
        **s3_bucket.env,
        "TOCSIN_DATABASE_URL": database.url,
        "TOCSIN_POLICY": "default",
        "TOCSIN_WITNESS": f"s3://{s3_bucket.name}/witness",
    }
    refused = subprocess.run(
        [str(BIN / "tocsin"), "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0
    assert f"TOCSIN_WITNESS: bucket '{s3_bucket.name}' has no object lock" in refused.stderr
    unknown = subprocess.run(
        [str(BIN / "tocsin"), "serve", "--port", "0", "--no-engine"],
        env={**env, "TOCSIN_EVIDENCE_STORE": "s3://no-such-evidence-bucket/x"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unknown.returncode != 0
    assert "TOCSIN_EVIDENCE_STORE: bucket 'no-such-evidence-bucket'" in unknown.stderr
    assert "tocsin-test-secret" not in unknown.stderr + unknown.stdout
