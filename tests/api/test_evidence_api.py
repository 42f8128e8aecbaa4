"""The evidence locker's and the containment switches' API (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import Api, make_api
from tocsin.db import Database
from tocsin.evidence import switches
from tocsin.policy.loader import load_policy

BINARY = bytes(range(256)) * 40  # NULs and all: a snapshot is not text


@pytest.fixture
def api(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("TOCSIN_EVIDENCE_DIR", str(tmp_path / "evidence"))
    yield from make_api(database, load_policy("proofkit"))


def upload(api: Api, incident_id: str, data: bytes = BINARY, **fields: str):  # type: ignore[no-untyped-def]
    form = {"title": "disk snapshot", "kind": "snapshot", **fields}
    return api.client.post(
        f"/api/v1/incidents/{incident_id}/evidence",
        data=form,
        files={"file": ("sda1.img", data, "application/octet-stream")},
        headers=api.headers(),
    )


def test_a_file_is_attached_listed_and_downloaded_with_custody(api: Api) -> None:
    incident = api.declare(severity="P0", type="security")
    added = upload(api, str(incident["id"]), retention_class="security_logs")
    assert added.status_code == 201, added.text
    body = added.json()
    assert body["sha256"] == hashlib.sha256(BINARY).hexdigest()
    assert (body["size"], body["kind"], body["filename"]) == (len(BINARY), "snapshot", "sda1.img")
    assert body["added_by"] == "responder-user"
    listed = api.get(f"/api/v1/incidents/{incident['id']}/evidence").json()
    assert [i["id"] for i in listed["items"]] == [body["id"]] and listed["legal_hold"] is None
    download = api.get(body["content"])
    assert download.status_code == 200 and download.content == BINARY
    assert download.headers["x-content-sha256"] == body["sha256"]
    detail = api.get(f"/api/v1/incidents/{incident['id']}/evidence/{body['id']}").json()
    assert [(e["kind"], e["actor"]) for e in detail["custody"]] == [
        ("evidence_added", "responder-user"),
        ("evidence_viewed", "viewer-user"),
    ]


def test_a_link_is_json_and_a_handover_names_its_recipient(api: Api) -> None:
    incident = api.declare(severity="P0", type="security")
    path = f"/api/v1/incidents/{incident['id']}/evidence"
    link = api.post(path, {"title": "SIEM query", "url": "https://siem.example.com/q/81"})
    assert link.status_code == 201, link.text
    assert link.json()["content"] is None and link.json()["kind"] == "link"
    handover = api.post(
        f"{path}/{link.json()['id']}/custody",
        {"action": "handed_over", "to": "Forensics Ltd", "reason": "analysis"},
    )
    assert handover.status_code == 201
    assert handover.json()["custody"][-1]["data"]["to"] == "Forensics Ltd"


def test_bad_evidence_is_refused_naming_the_field(api: Api) -> None:
    incident = api.declare(severity="P0", type="security")
    path = f"/api/v1/incidents/{incident['id']}/evidence"
    bad_class = upload(api, str(incident["id"]), retention_class="forever")
    assert bad_class.status_code == 422
    assert bad_class.json()["errors"][0]["field"] == "retention_class"
    assert bad_class.json()["errors"][0]["allowed"] == ["application_logs", "security_logs"]
    no_title = upload(api, str(incident["id"]), title="")
    assert no_title.status_code == 422 and no_title.json()["errors"][0]["field"] == "title"
    bad_kind = upload(api, str(incident["id"]), kind="photo")
    assert bad_kind.status_code == 422 and bad_kind.json()["errors"][0]["field"] == "kind"
    plain = api.client.post(
        path, content=b"hello", headers={**api.headers(), "content-type": "text/plain"}
    )
    assert plain.status_code == 422 and plain.json()["errors"][0]["field"] == "content-type"
    no_url = api.post(path, {"title": "x", "url": "ftp://x"})
    assert no_url.status_code == 422 and no_url.json()["errors"][0]["field"] == "url"
    viewer = api.client.post(
        path, json={"title": "x", "url": "https://x"}, headers=api.headers("viewer")
    )
    assert viewer.status_code == 403
    missing = api.get(f"{path}/999/content")
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "evidence_id"


def test_an_upload_over_the_limit_is_413(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOCSIN_EVIDENCE_MAX_BYTES", "1000")
    incident = api.declare(severity="P0", type="security")
    refused = upload(api, str(incident["id"]), data=b"x" * 5000)
    assert refused.status_code == 413
    assert api.get(f"/api/v1/incidents/{incident['id']}/evidence").json()["items"] == []


def test_a_legal_hold_is_placed_once_and_released(api: Api) -> None:
    incident = api.declare(severity="P0", type="security")
    path = f"/api/v1/incidents/{incident['id']}/legal-hold"
    assert api.post(path, {"reason": "DPA case 22-118"}).status_code == 201
    again = api.post(path, {"reason": "again"})
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "hold"
    listed = api.get(f"/api/v1/incidents/{incident['id']}/evidence").json()
    assert listed["legal_hold"]["reason"] == "DPA case 22-118"
    assert api.post(f"{path}/release", {"reason": "case closed"}).status_code == 200
    assert api.post(f"{path}/release", {"reason": "x"}).status_code == 409


@pytest.fixture
def rastup_api(database: Database, tmp_path: Path) -> Iterator[Api]:
    yield from make_api(database, load_policy("rastup"))


def test_a_switch_is_flipped_with_a_reason_and_listed_while_on(
    rastup_api: Api, database: Database
) -> None:
    api = rastup_api
    incident = api.declare(severity="SEV3", services=["listings"])
    path = f"/api/v1/incidents/{incident['id']}/switches"
    (before,) = api.get(path).json()
    assert (before["name"], before["state"], before["flipped_by"]) == (
        "global-readonly",
        "off",
        "hand",
    )
    on = api.post(f"{path}/global-readonly", {"state": "on", "reason": "integrity at risk"})
    assert on.status_code == 200, on.text
    assert on.json()[0]["state"] == "on" and on.json()[0]["reason"] == "integrity at risk"
    assert [s["incident_id"] for s in api.get("/api/v1/switches").json()] == [incident["id"]]
    again = api.post(f"{path}/global-readonly", {"state": "on", "reason": "x"})
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "state"
    unknown = api.post(f"{path}/nope", {"state": "on", "reason": "x"})
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["allowed"] == ["global-readonly"]
    no_reason = api.post(f"{path}/global-readonly", {"state": "off"})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    off = api.post(f"{path}/global-readonly", {"state": "off", "reason": "monitors green"})
    assert off.json()[0]["state"] == "off"
    assert api.get("/api/v1/switches").json() == []
    clocks = {
        c["kind"]: c["state"] for c in api.get(f"/api/v1/incidents/{incident['id']}/clocks").json()
    }
    assert clocks["switch_limit"] == "met" and clocks["switch_watch"] == "pending"
    with database.read_session() as session:
        assert switches.on_now(session) == []
