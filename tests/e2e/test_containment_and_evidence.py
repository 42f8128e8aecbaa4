"""Containment switches and the evidence locker against a real `tocsin serve`, over sockets.

The switch's webhook goes to a local HTTP receiver, which checks the HMAC-SHA256 signature
itself (the standard library's hmac, none of Tocsin's code). The watch after release is run
out by a second engine process whose clock is moved 31 minutes on (a sitecustomize hook with
time-machine), as the calendar tests move the server's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import tocsin.policy
from tests.console_auth import sign_in_client
from tests.e2e.conftest import BIN, Server, start_server, stop_server
from tests.e2e.receivers import HttpReceiver, Received
from tocsin.db import Database

pytestmark = pytest.mark.e2e

TRAVEL_HOOK = """\
import os

import time_machine

time_machine.travel(os.environ["TOCSIN_TEST_NOW"], tick=True).start()
"""


def signed_by(received: Received, secret: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(received.headers.get("x-tocsin-signature", ""), expected)


@contextmanager
def console(server: Server) -> Iterator[tuple[httpx.Client, str]]:
    """A browser-like client signed in to the console (Origin set as a page's form sends it),
    and the session's CSRF token its forms carry."""
    with httpx.Client(base_url=server.url, headers={"Origin": server.url}, timeout=10) as client:
        csrf = sign_in_client(client, token=server.token, origin=server.url)
        yield client, csrf


def api(server: Server) -> httpx.Client:
    headers = {"Authorization": f"Bearer {server.token}"}
    return httpx.Client(base_url=server.url, headers=headers, timeout=10)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as hooks:
        yield hooks


@pytest.fixture
def rastup_server(database: Database, tmp_path: Path, receiver: HttpReceiver) -> Iterator[Server]:
    text = (Path(tocsin.policy.__file__).parent / "bundled" / "rastup.yaml").read_text()
    hook = f"    webhook: {{url: '{receiver.url}/readonly'}}\n    watch: 30m\n"
    policy = tmp_path / "rastup.yaml"
    policy.write_text(text.replace("    watch: 30m\n", hook))
    server = start_server(database.url, tmp_path, policy=str(policy))
    yield server
    stop_server(server)


def run_engine_at(server: Server, tmp_path: Path, at: datetime) -> subprocess.Popen[str]:
    hook = tmp_path / "travel"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(TRAVEL_HOOK)
    env = {
        **server.env,
        "PYTHONPATH": os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH")) if p),
        "TOCSIN_TEST_NOW": at.isoformat(),
    }
    return subprocess.Popen(
        [str(BIN / "tocsin"), "engine"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def wait_for(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("waited in vain")


def test_global_readonly_flipped_released_and_watched(
    rastup_server: Server, receiver: HttpReceiver, tmp_path: Path
) -> None:
    server = rastup_server
    made = server.cli("secrets", "switch", "global-readonly", "--generate")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    with api(server) as client:
        incident = client.post(
            "/api/v1/incidents",
            json={"title": "Listings corrupted", "severity": "SEV3", "services": ["listings"]},
        ).json()
    incident_id = incident["id"]

    flipped = server.cli(
        "incident",
        "switch",
        incident_id,
        "global-readonly",
        "on",
        "--reason",
        "bad migration rewrote listings",
    )
    assert flipped.returncode == 0, flipped.stderr
    assert "global-readonly: ON" in flipped.stdout
    (on,) = receiver.wait_for(1)
    assert signed_by(on, secret), "the receiver's own HMAC check must pass"
    body = on.json()
    assert (body["switch"], body["state"], body["incident"]) == (
        "global-readonly",
        "on",
        incident_id,
    )
    assert body["reason"] == "bad migration rewrote listings"
    assert on.idempotency_key == body["idempotency_key"]

    with console(server) as (browser, csrf):
        banner = "Containment switch global-readonly is ON"
        assert banner in browser.get("/console").text
        page = browser.get(f"/console/incidents/{incident_id}").text
        assert banner in page and "bad migration rewrote listings" in page
        released = browser.post(
            f"/console/incidents/{incident_id}/switch",
            data={
                "switch": "global-readonly",
                "state": "off",
                "reason": "synthetic monitors green",
                "csrf_token": csrf,
            },
        )
        assert released.status_code in (200, 303)
        assert banner not in browser.get(f"/console/incidents/{incident_id}").text
        assert banner not in browser.get("/console").text
    off = receiver.wait_for(2)[1]
    assert signed_by(off, secret) and off.json()["state"] == "off"
    assert off.json()["seq"] > body["seq"], "a receiver orders flips by their chain position"
    assert not signed_by(off, "some other secret")

    with api(server) as client:
        clocks = {
            c["kind"]: c for c in client.get(f"/api/v1/incidents/{incident_id}/clocks").json()
        }
        assert clocks["switch_limit"]["state"] == "met"
        watch = clocks["switch_watch"]
        assert watch["state"] == "pending"
        due = datetime.fromisoformat(watch["due_at"].replace("Z", "+00:00"))
        later = run_engine_at(server, tmp_path, due + timedelta(minutes=1))
        try:

            def settled() -> str | None:
                found = client.get(f"/api/v1/incidents/{incident_id}/clocks").json()
                state = next(c["state"] for c in found if c["kind"] == "switch_watch")
                return None if state == "pending" else state

            assert wait_for(settled) == "met"
        finally:
            later.terminate()
            later.wait(timeout=10)
        kinds = [e["kind"] for e in client.get(f"/api/v1/incidents/{incident_id}/timeline").json()]
    assert kinds.count("switch_flipped") == 2 and "clock_met" in kinds
    assert server.cli("verify").returncode == 0


@pytest.fixture
def proofkit_server(database: Database, tmp_path: Path) -> Iterator[Server]:
    env = {"TOCSIN_EVIDENCE_DIR": str(tmp_path / "locker")}
    server = start_server(database.url, tmp_path, policy="proofkit", extra_env=env)
    yield server
    stop_server(server)


def test_evidence_attached_fetched_handed_over_and_bundled(
    proofkit_server: Server, tmp_path: Path
) -> None:
    server = proofkit_server
    with api(server) as client:
        incident = client.post(
            "/api/v1/incidents", json={"title": "Breach", "severity": "P0", "type": "security"}
        ).json()
    incident_id = incident["id"]
    log = tmp_path / "auth.log"
    log.write_bytes(b"09:58:01 sshd: Accepted publickey for root\n" * 100)
    digest = hashlib.sha256(log.read_bytes()).hexdigest()

    added = server.cli(
        "incident",
        "evidence",
        "add",
        incident_id,
        str(log),
        "--kind",
        "log_export",
        "--class",
        "security_logs",
        "--json",
    )
    assert added.returncode == 0, added.stderr
    item = json.loads(added.stdout)
    assert (item["sha256"], item["size"]) == (digest, log.stat().st_size)
    assert (tmp_path / "locker" / "sha256" / digest[:2] / digest).exists()

    fetched = tmp_path / "fetched.log"
    got = server.cli(
        "incident", "evidence", "get", incident_id, str(item["id"]), "--out", str(fetched)
    )
    assert got.returncode == 0, got.stderr
    assert fetched.read_bytes() == log.read_bytes() and "SHA-256 matches" in got.stdout
    handed = server.cli(
        "incident", "evidence", "handover", incident_id, str(item["id"]), "--to", "Forensics Ltd"
    )
    assert handed.returncode == 0, handed.stderr
    bad = server.cli("incident", "evidence", "add", incident_id, str(log), "--class", "forever")
    assert bad.returncode == 1 and "retention_class" not in bad.stdout
    assert "unknown retention class 'forever'" in bad.stderr

    with console(server) as (browser, csrf):
        uploaded = browser.post(
            f"/console/incidents/{incident_id}/evidence",
            data={
                "title": "db snapshot",
                "kind": "snapshot",
                "retention_class": "application_logs",
                "csrf_token": csrf,
            },
            files={"file": ("db.img", b"\x00\x01binary\xff" * 64, "application/octet-stream")},
        )
        assert uploaded.status_code in (200, 303)
        page = browser.get(f"/console/incidents/{incident_id}").text
        assert "db snapshot" in page and digest[:16] in page
        link = re.search(rf'href="(/console/incidents/{incident_id}/evidence/\d+)"', page)
        assert link is not None
        assert browser.get(link.group(1)).content == log.read_bytes()

    listed = json.loads(server.cli("incident", "evidence", "list", incident_id, "--json").stdout)
    assert [i["kind"] for i in listed["items"]] == ["log_export", "snapshot"]
    detail = json.loads(
        server.cli("incident", "evidence", "get", incident_id, str(item["id"]), "--json").stdout
    )
    assert [e["kind"] for e in detail["custody"]] == [
        "evidence_added",
        "evidence_viewed",
        "evidence_handed_over",
        "evidence_viewed",
    ]

    key = tmp_path / "checkpoint.key"
    assert server.cli("checkpoint", "keygen", "--out", str(key)).returncode == 0
    keyed = {**server.env, "TOCSIN_CHECKPOINT_KEY": str(key)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "tocsin"), *args],
            env=keyed,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert cli("checkpoint", "create").returncode == 0
    out = tmp_path / "bundle"
    exported = cli("evidence", "export", incident_id, "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    assert (out / "evidence" / digest).read_bytes() == log.read_bytes()
    checked = cli("evidence", "verify", str(out), "--public-key", f"{key}.pub")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "2 evidence item(s) match the hashes on their timeline" in checked.stdout
