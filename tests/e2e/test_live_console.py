"""The live console in a real browser (Debian Chromium) against a real `tocsin serve`: the
room on a phone, live updates between two browsers, on-call overrides, silences, escaping."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.console_auth import sign_in_client
from tests.e2e.conftest import Server
from tests.e2e.console_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    console_page,
    declare,
    flash,
    incident_id_of,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(shared_server: Server) -> Server:
    """These tests need nothing of their own: the session's shared server, reset."""
    return shared_server


XSS = "<script>alert(1)</script>"
PHONE = {"width": 375, "height": 667}
FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _api(server: Server, method: str, path: str, body: object = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.token}"}
    return httpx.request(method, server.url + path, json=body, headers=headers, timeout=10)


def _fits_phone(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide"


def test_a_p1_is_acknowledged_on_a_phone_and_a_second_browser_sees_it_live(
    browser: Browser, server: Server
) -> None:
    phone = console_page(browser, server, **PHONE)
    phone.goto(f"{server.url}/console#declare")
    declare(phone, title="Checkout 5xx after deploy", severity="P1", services="checkout")
    expect(phone).to_have_url(re.compile(r"/console/incidents/INC-"))
    incident_id = incident_id_of(phone)

    watcher = console_page(browser, server)
    watcher.goto(f"{server.url}/console/incidents/{incident_id}")
    expect(watcher.locator("#live-status")).to_have_text("Live")

    phone.evaluate("window.scrollTo(0, 0)")
    button = phone.get_by_role("button", name="Acknowledge")
    box = button.bounding_box()
    assert box is not None and box["y"] + box["height"] <= PHONE["height"], box
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    _fits_phone(phone)
    button.click()
    expect(flash(phone)).to_contain_text("Acknowledged")
    _fits_phone(phone)

    # The other browser shows the acknowledgement without a reload, within 2 s.
    watcher.evaluate("window.notReloaded = true")
    expect(watcher.locator("table.timeline")).to_contain_text("acknowledged", timeout=2_000)

    phone.get_by_label("Update for stakeholders").fill("Rolled back deploy 4411; watching")
    phone.get_by_role("button", name="Publish update").click()
    expect(flash(phone)).to_contain_text("Update published")
    expect(watcher.locator("table.timeline")).to_contain_text(
        "Rolled back deploy 4411", timeout=2_000
    )
    # A note through the API, as another node would write it, shows too.
    assert (
        _api(
            server, "POST", f"/api/v1/incidents/{incident_id}/notes", {"text": "from the API"}
        ).status_code
        == 201
    )
    expect(watcher.locator("table.timeline")).to_contain_text("from the API", timeout=2_000)
    assert watcher.evaluate("window.notReloaded") is True

    # The dashboard follows too.
    watcher.goto(f"{server.url}/console/dashboard")
    expect(watcher.locator(".open-card")).to_contain_text("Checkout 5xx after deploy")
    declared = _api(
        server, "POST", "/api/v1/incidents", {"title": "Search is slow", "severity": "P3"}
    )
    assert declared.status_code == 201
    expect(watcher.locator(".open-card")).to_contain_text("Search is slow", timeout=2_000)


def test_a_checklist_item_is_ticked_and_recorded(browser: Browser, server: Server) -> None:
    page = console_page(browser, server)
    incident = _api(server, "POST", "/api/v1/incidents", {"title": "Disk full", "severity": "P2"})
    page.goto(f"{server.url}/console/incidents/{incident.json()['id']}")
    first = page.locator("#checklist li.check").first
    text = first.locator(".check-text").inner_text()
    first.get_by_role("button").click()
    expect(flash(page)).to_contain_text(f"Done: {text}")
    expect(page.locator("#checklist li.check").first).to_contain_text("admin")
    expect(page.locator("table.timeline")).to_contain_text(f"done: {text}")


def _apply_oncall(server: Server) -> None:
    text = (FIXTURES / "oncall.yaml").read_text()
    assert _api(server, "POST", "/api/v1/oncall/apply", {"text": text}).status_code == 200


def test_an_override_is_created_and_removed_on_the_oncall_page(
    browser: Browser, server: Server
) -> None:
    _apply_oncall(server)
    page = console_page(browser, server)
    page.goto(f"{server.url}/console/oncall")
    expect(page.locator(".oncall-now")).to_contain_text("Primary on-call")
    page.get_by_label("Who covers").select_option("carol")
    page.get_by_label("From").fill("2030-01-07T09:00")
    page.get_by_label("Until").fill("2030-01-08T09:00")
    page.get_by_label("Reason").fill("Alice at the dentist")
    page.get_by_role("button", name="Create override").click()
    expect(flash(page)).to_contain_text("carol covers primary")
    overrides = _api(server, "GET", "/api/v1/schedules/primary/overrides").json()
    assert [o["person"] for o in overrides] == ["carol"]
    page.get_by_role("button", name=re.compile("Remove override")).click()
    expect(flash(page)).to_contain_text("removed")
    assert _api(server, "GET", "/api/v1/schedules/primary/overrides").json() == []


def _alertmanager_alert(server: Server, summary: str) -> None:
    made = _api(server, "POST", "/api/v1/integrations", {"name": "prom", "kind": "alertmanager"})
    assert made.status_code == 201, made.text
    url = made.json()["urls"]["webhook"]
    payload = {
        "version": "4",
        "status": "firing",
        "receiver": "tocsin",
        "groupKey": '{}:{alertname="DiskFull"}',
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull", "service": "checkout", "severity": "critical"},
                "annotations": {"summary": summary},
                "startsAt": "2026-12-03T10:00:00Z",
                "fingerprint": "abc123",
            }
        ],
    }
    sent = httpx.post(
        url, content=json.dumps(payload), headers={"content-type": "application/json"}
    )
    assert sent.status_code < 300, sent.text


def test_an_alert_is_silenced_from_its_page(browser: Browser, server: Server) -> None:
    _alertmanager_alert(server, "Disk full on db-1")
    page = console_page(browser, server)
    page.goto(f"{server.url}/console/alerts?status=firing")
    page.get_by_role("link", name="Disk full on db-1").click()
    expect(page.locator(".kv").first).to_contain_text("DiskFull")
    page.get_by_label("Until").fill("2030-01-01T00:00")
    page.get_by_label("Reason").fill("Known, disk being grown")
    page.get_by_role("button", name="Create silence").click()
    expect(flash(page)).to_contain_text("matching alerts do not page")
    silences = _api(server, "GET", "/api/v1/silences").json()
    assert [(s["reason"], s["matchers"]) for s in silences] == [
        ("Known, disk being grown", {"alertname": "DiskFull"})
    ]
    page.goto(f"{server.url}/console/alerts")
    page.get_by_role("button", name=f"End silence {silences[0]['id']}").click()
    expect(flash(page)).to_contain_text("ended")


PAGES = (
    "/console",
    "/console/dashboard",
    "/console/oncall",
    "/console/alerts",
    "/console/integrations",
)


def test_user_text_shows_as_text_on_every_page(browser: Browser, server: Server) -> None:
    _apply_oncall(server)
    _alertmanager_alert(server, XSS)
    incident = _api(
        server, "POST", "/api/v1/incidents", {"title": XSS, "severity": "P1", "summary": XSS}
    )
    incident_id = incident.json()["id"]
    _api(server, "POST", f"/api/v1/incidents/{incident_id}/notes", {"text": XSS})
    page = console_page(browser, server, **PHONE)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    alert_id = _api(server, "GET", "/api/v1/alerts").json()["items"][0]["id"]
    for path in (*PAGES, f"/console/incidents/{incident_id}", f"/console/alerts/{alert_id}"):
        page.goto(server.url + path)
        expect(page.locator("main")).to_be_visible()
        if path not in ("/console/oncall", "/console/integrations"):
            expect(page.get_by_text(XSS).first).to_be_visible()
        _fits_phone(page)
    assert dialogs == []


def test_a_console_form_from_another_site_or_without_its_token_is_refused(server: Server) -> None:
    incident = _api(server, "POST", "/api/v1/incidents", {"title": "CSRF", "severity": "P2"})
    with httpx.Client(base_url=server.url) as client:
        csrf = sign_in_client(client, token=server.token, origin=server.url)
        for path, body in (
            (f"/console/incidents/{incident.json()['id']}/acknowledge", ""),
            ("/console/silences", "reason=x&ends_at=2030-01-01T00:00&service=checkout"),
            ("/console/oncall/overrides", "schedule=primary&person=alice"),
        ):
            form = {"content-type": "application/x-www-form-urlencoded"}
            # Another site's page, even one that somehow knows the session's token.
            evil = client.post(
                path,
                content=f"{body}&csrf_token={csrf}",
                headers={**form, "origin": "https://evil.example"},
            )
            # This site's origin, but the form lacks the session's token.
            tokenless = client.post(path, content=body, headers={**form, "origin": server.url})
            assert (evil.status_code, tokenless.status_code) == (403, 403), path
    assert (
        _api(server, "GET", f"/api/v1/incidents/{incident.json()['id']}").json()["acknowledged_at"]
        is None
    )
