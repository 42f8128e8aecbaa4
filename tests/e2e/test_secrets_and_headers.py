"""What a browser, a log reader and a prober see of a running Tocsin: security headers on every
answer, one "not found" for every wrong secret, and no secret in the access log."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.console_auth import sign_in_client
from tests.e2e.conftest import BIN, Server, free_port
from tocsin.db import Database

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _admin(server: Server) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=10
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/incidents"),
        ("GET", "/api/v1/no-such-route"),
        ("GET", "/ack/not-a-link"),
        ("GET", "/openapi.json"),
        ("POST", "/api/v1/integrations/some-key/generic"),  # refused: unknown key
    ],
)
def test_every_answer_forbids_framing_sniffing_and_referrers(
    server: Server, method: str, path: str
) -> None:
    with _admin(server) as tocsin:
        answer = tocsin.request(method, path, json={} if method == "POST" else None)
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["referrer-policy"] in ("no-referrer", "same-origin")


def test_the_api_docs_still_load_swagger_ui_from_its_cdn_and_nothing_else(server: Server) -> None:
    answer = httpx.get(f"{server.url}/docs", timeout=10)
    policy = answer.headers["content-security-policy"]
    assert answer.status_code == 200
    assert "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net;" in policy
    assert "frame-ancestors 'none'" in policy


def test_an_oversized_body_is_refused_with_the_headers_too(server: Server) -> None:
    answer = httpx.post(
        f"{server.url}/api/v1/incidents", content=b"x" * (2 * 1024 * 1024), timeout=10
    )
    assert answer.status_code == 413
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_every_wrong_calendar_secret_gets_the_same_answer(server: Server) -> None:
    assert server.cli("oncall", "apply", str(FIXTURES / "oncall.yaml")).returncode == 0
    with _admin(server) as tocsin:
        real = tocsin.post("/api/v1/schedules/primary/calendar-token").json()["url"]
    assert httpx.get(real, timeout=10).status_code == 200
    probes = [
        real.replace("token=", "token=x"),  # a schedule that exists, a wrong token
        real.replace("/primary.ics", "/nobody.ics"),  # a schedule that does not
        real.replace("/schedules/primary", "/people/alice"),  # a person with no feed
        real.replace("/schedules/primary", "/people/nobody"),
        real.replace("/schedules/", "/rooms/"),
    ]
    answers = [httpx.get(url, timeout=10) for url in probes]
    assert {a.status_code for a in answers} == {404}
    assert len({a.text for a in answers}) == 1, [a.text for a in answers]


def test_an_acknowledge_link_that_is_not_ours_reads_the_same_however_it_is_wrong(
    server: Server,
) -> None:
    probes = ["garbage", "eyJpIjoiSU5DIn0.c2ln", "a.b.c", "%E2%98%83"]
    pages = [httpx.get(f"{server.url}/ack/{p}", timeout=10) for p in probes]
    posts = [
        httpx.post(f"{server.url}/ack/{p}", headers={"Accept": "application/json"}, timeout=10)
        for p in probes
    ]
    assert {p.status_code for p in pages + posts} == {404}
    assert len({p.text for p in pages}) == 1
    assert {p.json()["error"] for p in posts} == {"not_found"}
    assert "no-store" in pages[0].headers["cache-control"]


def test_the_access_log_never_holds_a_secret_from_a_url(server: Server) -> None:
    assert server.cli("oncall", "apply", str(FIXTURES / "oncall.yaml")).returncode == 0
    with _admin(server) as tocsin:
        feed = tocsin.post("/api/v1/schedules/primary/calendar-token").json()["url"]
        generic = tocsin.post("/api/v1/integrations", json={"name": "g", "kind": "generic"})
        heartbeat = tocsin.post(
            "/api/v1/integrations",
            json={"name": "h", "kind": "heartbeat", "heartbeat_interval_s": 300},
        )
    generic_key, heartbeat_key = generic.json()["key"], heartbeat.json()["key"]
    calendar_token = feed.split("token=")[1]
    httpx.get(feed, timeout=10)
    httpx.post(
        f"{server.url}/api/v1/integrations/{generic_key}/generic",
        json={"summary": "disk full", "severity": "critical"},
        timeout=10,
    )
    httpx.get(f"{server.url}/api/v1/heartbeats/{heartbeat_key}", timeout=10)
    httpx.get(f"{server.url}/ack/some.secret-token-value", timeout=10)
    httpx.get(f"{server.url}/api/v1/incidents?token={server.token}", timeout=10)

    log = "".join(server.log)
    assert "GET /ical/schedules/primary.ics?token=[redacted]" in log  # the line is there
    for secret in (calendar_token, generic_key, heartbeat_key, "secret-token-value", server.token):
        assert secret not in log.replace(server.banner, ""), secret


def test_a_console_post_from_another_scheme_or_port_is_refused(server: Server) -> None:
    with _admin(server) as tocsin:
        incident = tocsin.post("/api/v1/incidents", json={"title": "t", "severity": "P2"}).json()
    browser = httpx.Client(base_url=server.url, timeout=10)
    csrf = sign_in_client(browser, token=server.token, origin=server.url)
    notes = f"/console/incidents/{incident['id']}/notes"
    host_port = server.url.removeprefix("http://")
    host, port = host_port.split(":")
    for origin in (f"https://{host_port}", f"http://{host}:{int(port) + 1}"):
        refused = browser.post(
            notes, data={"text": "forged", "csrf_token": csrf}, headers={"Origin": origin}
        )
        assert refused.status_code == 403, origin
    same = browser.post(
        notes, data={"text": "mine", "csrf_token": csrf}, headers={"Origin": server.url}
    )
    assert same.status_code == 303


def test_serve_on_postgresql_without_a_sealing_key_refuses_to_start(
    postgresql_url: str, tmp_path: Path
) -> None:
    env = {"PATH": "/usr/bin:/bin", "TOCSIN_DATABASE_URL": postgresql_url}
    done = subprocess.run(
        [str(BIN / "tocsin"), "serve", "--port", str(free_port())],
        env={**env, "TOCSIN_CONFIG": str(tmp_path / "cli.json")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "TOCSIN_SECRET_KEY" in done.stderr + done.stdout


def test_the_signing_key_in_a_running_servers_database_is_sealed(
    server: Server, database: Database
) -> None:
    from sqlalchemy import text

    with database.read_session() as session:
        values = session.execute(text("SELECT value FROM server_secrets")).scalars().all()
    assert values and all(v.startswith("fernet:") for v in values)
