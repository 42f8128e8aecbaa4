"""A responder's first hour, end to end: a real server, the real CLI, real sockets."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.console_auth import sign_in_client
from tests.e2e.conftest import Server, start_server, stop_server
from tocsin.db import Database


@pytest.fixture
def server(shared_server: Server) -> Server:
    """These tests need nothing of their own: the session's shared server, reset."""
    return shared_server


def test_serve_prints_the_url_and_a_working_admin_token(server: Server) -> None:
    assert f"Tocsin URL:   {server.url}" in server.banner
    assert server.token.startswith("tcn_")
    docs = httpx.get(f"{server.url}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    health = httpx.get(f"{server.url}/healthz").json()
    assert health["status"] == "ok"
    authed = httpx.get(
        f"{server.url}/api/v1/incidents", headers={"Authorization": f"Bearer {server.token}"}
    )
    assert authed.status_code == 200


def test_an_incident_run_from_the_cli_leaves_a_verified_timeline(server: Server) -> None:
    declared = server.cli(
        "incident",
        "declare",
        "--title",
        "Checkout errors",
        "--severity",
        "P1",
        "--service",
        "checkout",
        "--flag",
        "customer_facing",
        "--json",
    )
    assert declared.returncode == 0, declared.stderr
    incident = json.loads(declared.stdout)
    incident_id = incident["id"]
    assert {c["kind"] for c in incident["clocks"]} >= {"acknowledge", "resolve"}

    steps = [
        ("incident", "ack", incident_id),
        ("incident", "status", incident_id, "identified", "-m", "Bad deploy 4411"),
        ("incident", "severity", incident_id, "P0", "--reason", "All regions now"),
        ("incident", "role", incident_id, "commander", "dana"),
        ("incident", "note", incident_id, "Rolling back 4411"),
        ("incident", "resolve", incident_id, "-m", "Rolled back"),
        ("incident", "close", incident_id, "-m", "Review booked"),
    ]
    for step in steps:
        result = server.cli(*step)
        assert result.returncode == 0, f"{step}: {result.stderr}"

    shown = json.loads(server.cli("incident", "show", incident_id, "--json").stdout)
    assert shown["status"] == "closed"
    assert shown["severity"] == "P0"
    assert shown["roles"] == {"commander": "dana"}

    table = server.cli("incident", "list")
    assert incident_id in table.stdout and "closed" in table.stdout

    verify = server.cli("verify")
    assert verify.returncode == 0, verify.stderr
    assert "every chain intact" in verify.stdout


def test_cli_errors_name_the_problem(server: Server) -> None:
    bad = server.cli("incident", "declare", "--title", "x", "--severity", "SEV9")
    assert bad.returncode == 1
    assert "HTTP 422" in bad.stderr and "P0, P1, P2, P3" in bad.stderr
    illegal_target = server.cli("incident", "status", "INC-1999-01-01-01", "resolved", "-m", "x")
    assert illegal_target.returncode == 1 and "HTTP 404" in illegal_target.stderr


def test_make_run_twice_keeps_the_admin_the_token_and_the_browser_session(
    database: Database, tmp_path: Path
) -> None:
    first = start_server(database.url, tmp_path)
    try:
        assert "Admin user:   admin" in first.banner and first.admin_password
        browser = httpx.Client(base_url=first.url, timeout=10)
        sign_in_client(browser, username="admin", password=first.admin_password, origin=first.url)
        session = browser.cookies["tocsin_session"]
    finally:
        stop_server(first)
    second = start_server(database.url, tmp_path)
    try:
        assert "Password:" not in second.banner, "the password is printed once"
        for token in (first.token, second.token):
            answer = httpx.get(
                f"{second.url}/api/v1/incidents", headers={"Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 200, "no token was revoked"
        page = httpx.get(
            f"{second.url}/console", cookies={"tocsin_session": session}, follow_redirects=False
        )
        assert page.status_code == 200, "the browser is still signed in"
    finally:
        stop_server(second)


def test_a_bad_time_names_the_field_and_shows_an_accepted_form(server: Server) -> None:
    declared = json.loads(
        server.cli("incident", "declare", "--title", "t", "--severity", "P2", "--json").stdout
    )
    answer = httpx.post(
        f"{server.url}/api/v1/incidents/{declared['id']}/status",
        json={"status": "identified", "message": "x", "at": "3pm"},
        headers={"Authorization": f"Bearer {server.token}"},
    )
    assert answer.status_code == 422
    error = answer.json()["errors"][0]
    assert error["field"] == "at"
    assert "'3pm' is not a time" in error["message"] and "2026-11-22T09:12:00Z" in error["message"]
    naive = httpx.post(
        f"{server.url}/api/v1/incidents/{declared['id']}/status",
        json={"status": "identified", "message": "x", "at": "2026-11-22T09:12:00"},
        headers={"Authorization": f"Bearer {server.token}"},
    )
    assert "has no time zone: add Z" in naive.json()["message"]
    override = server.cli(
        "oncall", "override", "add", "--schedule", "primary", "--person", "ada",
        "--from", "tomorrow", "--to", "2026-11-22T10:00:00Z",
    )  # fmt: skip
    assert override.returncode == 1 and "Traceback" not in override.stderr
